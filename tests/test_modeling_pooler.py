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
