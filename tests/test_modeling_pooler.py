"""The actor head's multi-level RoIAlign: the FPN level rule and aligned=True pooling."""
import pytest
import torch
from torchvision.ops import roi_align

from woo.modeling.actor_head import ActorLocalizationHead, ActorStage
from woo.modeling.pooler import FPNRoIAlign

# (box, level) by hand: size s = sqrt(w * h), level = floor(4 + log2(s / 224)), clamped to 2..5.
CASES = [
    ((10.0, 20.0, 234.0, 244.0), 4),  # s = 224: the canonical level
    ((0.0, 0.0, 223.0, 223.0), 3),  # just under 224
    ((30.0, 8.0, 142.0, 120.0), 3),  # s = 112: one level finer
    ((40.0, 40.0, 96.0, 96.0), 2),  # s = 56: level 2
    ((5.0, 5.0, 30.0, 30.0), 2),  # s = 25: level 0 by the rule, clamped to 2
    ((0.0, 0.0, 448.0, 112.0), 4),  # s = sqrt(448 * 112) = 224, not square
    ((0.0, 0.0, 500.0, 460.0), 5),  # s = 479.6: level 5 (2.1 x 224, under 4 x 224)
    ((0.0, 0.0, 1000.0, 1000.0), 5),  # s = 1000: level 6 by the rule, clamped to 5
]


def pyramid(n=2, channels=3, height=512, width=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, channels, height // 2 ** k, width // 2 ** k, generator=g) for k in (2, 3, 4, 5)]


def test_boxes_land_on_the_level_the_rule_says_and_pool_there_alone():
    pooler = FPNRoIAlign(levels=(2, 3, 4, 5), output_size=7, sampling_ratio=2)
    features = pyramid()
    # Images 0 and 1 get the cases in turn, so the batch index matters too.
    per_image = [[c for i, c in enumerate(CASES) if i % 2 == b] for b in (0, 1)]
    boxes = [torch.tensor([box for box, _ in cases]) for cases in per_image]
    expected_levels = [level for cases in per_image for _, level in cases]
    assert pooler.assign_levels(boxes).tolist() == [k - 2 for k in expected_levels]
    out = pooler(features, boxes)
    assert out.shape == (len(CASES), 3, 7, 7)
    row = 0
    for image, cases in enumerate(per_image):
        for box, level in cases:
            roi = torch.tensor([[float(image), *box]])
            alone = roi_align(features[level - 2], roi, 7, 1.0 / 2 ** level, sampling_ratio=2, aligned=True)
            assert torch.equal(out[row], alone[0]), (box, level)
            unaligned = roi_align(features[level - 2], roi, 7, 1.0 / 2 ** level, sampling_ratio=2, aligned=False)
            assert not torch.allclose(out[row], unaligned[0])  # the half-pixel shift is visible
            row += 1


def test_one_level_and_gradients():
    pooler = FPNRoIAlign(levels=(4,), output_size=3)
    p4 = torch.randn(1, 2, 16, 16, requires_grad=True)
    boxes = [torch.tensor([[8.0, 8.0, 40.0, 72.0], [0.0, 0.0, 256.0, 256.0]])]
    out = pooler([p4], boxes)
    expected = roi_align(p4, boxes, 3, 1 / 16, sampling_ratio=2, aligned=True)
    assert torch.equal(out, expected)
    pooler = FPNRoIAlign(levels=(2, 3), output_size=3)
    features = [torch.randn(1, 2, 64, 64, requires_grad=True), torch.randn(1, 2, 32, 32, requires_grad=True)]
    pooler(features, [torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 200.0, 240.0]])]).sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in features)  # one box on each level


def test_levels_must_be_consecutive_and_named_by_stride():
    with pytest.raises(ValueError, match=r"consecutive, finest first; got \[2, 4\]"):
        FPNRoIAlign(levels=(2, 4), output_size=7)
    stage = ActorStage(hidden_dim=8, dim_feedforward=16, num_heads=2, dropout=0.0,
                       dim_dynamic=2, num_dynamic=2, pooler_resolution=3)
    with pytest.raises(ValueError, match=r"named 'p<k>' \(stride 2\*\*k\), got \['res4'\]"):
        ActorLocalizationHead(stage=stage, num_stages=1, num_proposals=2, hidden_dim=8,
                              level_names=("res4",), pooler_resolution=3)
    head = ActorLocalizationHead(stage=stage, num_stages=1, num_proposals=2, hidden_dim=8,
                                 level_names=("p3",), pooler_resolution=3)
    with pytest.raises(ValueError, match=r"level 'p3' is \(16, 16\) for a padded input of \(64, 64\)"):
        head({"p3": torch.randn(1, 8, 16, 16)}, torch.tensor([[64, 64]]), (64, 64))


def test_actor_head_pools_aligned():
    """The head's first stage sees the aligned RoIAlign of its initial boxes."""
    torch.manual_seed(0)
    stage = ActorStage(hidden_dim=8, dim_feedforward=16, num_heads=2, dropout=0.0,
                       dim_dynamic=2, num_dynamic=2, pooler_resolution=3)
    head = ActorLocalizationHead(stage=stage, num_stages=1, num_proposals=2, hidden_dim=8,
                                 level_names=("p2", "p3"), pooler_resolution=3)
    features = {"p2": torch.randn(1, 8, 32, 32), "p3": torch.randn(1, 8, 16, 16)}
    seen = []
    head.stages[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    sizes = torch.tensor([[128, 128]])
    head(features, sizes, (128, 128))
    boxes = head.initial_boxes(sizes)[0]  # whole frame, s = 128: level 3
    expected = roi_align(features["p3"], [boxes], 3, 1 / 8, sampling_ratio=2, aligned=True)
    assert torch.equal(seen[0], expected)


def _boxes_inside_on_and_beyond_the_edges(n, p, height, width, seed):
    """Boxes of every size, some crossing the map's border or far outside it, and
    the whole frame: the cases where RoIAlign clamps samples or drops them."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, p, 2, generator=g) * torch.tensor([width * 1.4, height * 1.4]) - 0.2 * torch.tensor(
        [width, height])
    size = torch.rand(n, p, 2, generator=g) * torch.tensor([width, height]) + 1.0
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=2)
    boxes[:, 0] = torch.tensor([0.0, 0.0, width, height])
    boxes[:, 1] = torch.tensor([-3.0 * width, -2.0 * height, -width, -height])  # wholly outside
    return boxes


@pytest.mark.parametrize("output_size, sampling_ratio, stride", [(7, 2, 32), (3, 1, 16), (2, 3, 8)])
def test_mean_weights_give_the_bin_mean_of_torchvisions_roi_align(output_size, sampling_ratio, stride):
    from woo.modeling.pooler import roi_align_mean_weights

    n, p, t, c, h, w = 2, 12, 3, 5, 6, 9
    g = torch.Generator().manual_seed(4)
    frames = torch.randn(n, t, c, h, w, generator=g)
    boxes = _boxes_inside_on_and_beyond_the_edges(n, p, h * stride, w * stride, seed=5)
    weights = roi_align_mean_weights(boxes, 1.0 / stride, h, w, output_size, sampling_ratio)
    assert weights.shape == (n, p, h * w)
    out = torch.einsum("npk,ntck->nptc", weights, frames.flatten(3))
    for i in range(n):
        for j in range(t):
            ref = roi_align(frames[i, j][None], [boxes[i]], output_size, 1.0 / stride,
                            sampling_ratio=sampling_ratio, aligned=True).mean(dim=(2, 3))
            torch.testing.assert_close(out[i, :, j], ref, rtol=1e-5, atol=1e-6)
    assert torch.all(weights[:, 1] == 0)  # a box far outside the map pools nothing
    torch.testing.assert_close(weights[:, 0].sum(1), torch.ones(n))  # the whole frame: a true mean
    with pytest.raises(ValueError, match="sampling_ratio > 0"):
        roi_align_mean_weights(boxes, 1.0 / stride, h, w, output_size, 0)


def test_levels_converted_once_pool_under_bf16_autocast_as_in_fp32():
    """The actor head casts its levels to float32 once; RoIAlign then pools them in
    float32 under autocast, and the boxes come back in their order."""
    pooler = FPNRoIAlign(levels=(2, 3, 4, 5), output_size=7, sampling_ratio=2)
    features = pyramid()
    boxes = [torch.tensor([box for box, _ in CASES[i::2]]) for i in (0, 1)]
    ref = pooler(features, boxes)
    bf16 = [f.to(torch.bfloat16) for f in features]
    prepared = pooler.prepare(bf16)
    assert all(f.dtype == torch.float32 and f.is_contiguous() for f in prepared)
    assert pooler.prepare(features)[0] is features[0]  # float32 NCHW: no copy
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pooler(prepared, boxes)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, pooler([f.float() for f in bf16], boxes), rtol=0, atol=0)
    torch.testing.assert_close(out, ref, rtol=0.02, atol=0.05)  # bf16 rounding of the features only
