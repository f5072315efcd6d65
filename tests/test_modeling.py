"""WOO model: backbone, key-frame FPN, heads and the whole model on tiny inputs (CPU)."""
import numpy as np
import pytest
import torch
from torch import nn

from woo.config import get_cfg
from woo.modeling import WOO, VideoResNet, VideoResNetFPN, build_model
from woo.modeling.action_head import ActionHead
from woo.modeling.actor_head import ActorLocalizationHead, ActorStage, apply_box_deltas
from woo.modeling.dynamic_conv import DynamicConv
from woo.modeling.key_frame_fpn import KeyFrameFPN

NUM_ACTIONS = 5


def tiny_cfg(arch="slowfast"):
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    r = cfg.MODEL.VIDEO_RESNET
    r.ARCH, r.DEPTH, r.STAGE_DEPTHS, r.STEM_CHANNELS = arch, 0, [1, 1, 1, 1], 8
    w = cfg.MODEL.WOO
    w.HIDDEN_DIM, w.NUM_PROPOSALS, w.NUM_STAGES, w.DIM_FEEDFORWARD = 32, 8, 2, 64
    w.NUM_HEADS, w.DIM_DYNAMIC, w.NUM_ACTIONS = 4, 8, NUM_ACTIONS
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    cfg.INPUT.NUM_FRAMES = 8 if arch == "slowfast" else 4
    return cfg


def tiny_inputs(num_frames=8):
    g = torch.Generator().manual_seed(0)
    return [
        {"clip": torch.randint(0, 256, (3, num_frames, 64, 64), generator=g, dtype=torch.uint8),
         "image_size": (64, 64),
         "gt_boxes": torch.tensor([[5.0, 5.0, 30.0, 60.0], [30.0, 10.0, 60.0, 50.0]]),
         "gt_actions": torch.tensor([[1.0, 0, 0, 1, 0], [0, 1.0, 0, 0, 0]])},
        # smaller clip (padded in the batch) without any actor
        {"clip": torch.randint(0, 256, (3, num_frames, 48, 60), generator=g, dtype=torch.uint8),
         "image_size": (48, 60),
         "gt_boxes": torch.zeros(0, 4), "gt_actions": torch.zeros(0, NUM_ACTIONS)},
    ]


@pytest.mark.parametrize("arch", ["slow", "slowfast"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_backbone_shapes_match_output_shape(arch, dilation):
    bb = VideoResNet(arch=arch, stage_depths=(1, 1, 1, 1), stem_channels=8, res5_dilation=dilation)
    out = bb(torch.randn(1, 3, 8, 64, 96))
    shape = bb.output_shape()
    assert shape["res5"].stride == 32 // dilation
    for name, tensors in out.items():
        assert len(tensors) == (2 if arch == "slowfast" else 1)
        for t, c in zip(tensors, shape[name].channels):
            assert t.shape[1] == c
            assert t.shape[3:] == (64 // shape[name].stride, 96 // shape[name].stride)
    assert out["res2"][0].shape[2] == (2 if arch == "slowfast" else 8)  # slow T = T / alpha
    if arch == "slowfast":
        assert out["res5"][1].shape[2] == 8


def test_backbone_standard_depths_and_freeze():
    cfg = tiny_cfg()
    cfg.MODEL.VIDEO_RESNET.DEPTH = 101
    cfg.MODEL.VIDEO_RESNET.STEM_CHANNELS = 8
    cfg.MODEL.BACKBONE.FREEZE_AT = 2
    bb = VideoResNet(**VideoResNet.from_config(cfg))
    assert [len(bb.blocks[i].multipathway_blocks[0].res_blocks) for i in range(1, 5)] == [3, 4, 23, 3]
    assert not any(p.requires_grad for p in bb.blocks[1].parameters())
    assert all(p.requires_grad for p in bb.blocks[2].parameters())
    bb.train()
    assert not bb.blocks[0].training and bb.blocks[2].training


def test_key_frame_fpn_uses_only_the_key_frame():
    fpn = KeyFrameFPN(in_features=("res2", "res3", "res4", "res5"), in_channels=(4, 8, 16, 32),
                      strides=(4, 8, 16, 32), out_channels=16)
    feats = {f"res{k}": [torch.randn(2, 4 * 2 ** (k - 2), 4, 64 // 2 ** k, 64 // 2 ** k)]
             for k in range(2, 6)}
    out = fpn(feats)
    assert list(out) == ["p2", "p3", "p4", "p5"]
    assert out["p2"].shape == (2, 16, 16, 16) and out["p5"].shape == (2, 16, 2, 2)
    for k in range(2, 6):  # frames other than T // 2 = 2 do not matter
        feats[f"res{k}"][0][:, :, [0, 1, 3]] = 0
    assert torch.allclose(fpn(feats)["p3"], out["p3"])
    feats["res5"][0][:, :, 2] += 1
    assert not torch.allclose(fpn(feats)["p5"], out["p5"])


def test_apply_box_deltas_identity_and_shift():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert torch.allclose(apply_box_deltas(torch.zeros(1, 4), boxes), boxes)
    # dx = 2 (weight 2) moves the centre by one width
    assert torch.allclose(apply_box_deltas(torch.tensor([[2.0, 0, 0, 0]]), boxes),
                          torch.tensor([[30.0, 20.0, 50.0, 60.0]]))


def _layer_norm(x, norm):
    w, b = norm.weight.detach().double().numpy(), norm.bias.detach().double().numpy()
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + norm.eps) * w + b


def test_dynamic_conv_equals_a_hand_written_reference():
    """Generated weights sliced layer by layer as (d_in, d_out), each followed by its own norm."""
    torch.manual_seed(0)
    dc = DynamicConv(hidden_dim=3, dim_dynamic=2, num_dynamic=3, num_tokens=2).double()
    with torch.no_grad():  # non-trivial affine norms, so a dropped norm shows
        for norm in [*dc.norms, dc.out_norm]:
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-0.5, 0.5)
    emb = torch.randn(4, 3, dtype=torch.float64)
    tokens = torch.randn(4, 2, 3, dtype=torch.float64)
    out = dc(emb, tokens).detach().numpy()
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    lin = lambda v, layer: v @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()  # noqa: E731
    for m in range(4):
        params = lin(emb[m].numpy(), dc.dynamic_layer)  # 3*2 + 2*2 + 2*3 = 16 values
        assert params.shape == (16,)
        w1, w2, w3 = params[:6].reshape(3, 2), params[6:10].reshape(2, 2), params[10:].reshape(2, 3)
        x = tokens[m].numpy()  # (L, d)
        for w, norm in zip((w1, w2, w3), dc.norms):
            x = relu(_layer_norm(x @ w, norm))
        expected = relu(_layer_norm(lin(x.reshape(-1), dc.out_layer), dc.out_norm))
        np.testing.assert_allclose(out[m], expected, rtol=1e-10, atol=1e-12)


def test_dynamic_conv_shapes_and_gradients():
    dc = DynamicConv(hidden_dim=16, dim_dynamic=4, num_dynamic=3, num_tokens=9)
    emb = torch.randn(5, 16, requires_grad=True)
    tokens = torch.randn(5, 9, 16, requires_grad=True)
    out = dc(emb, tokens)
    assert out.shape == (5, 16)
    out.sum().backward()
    assert emb.grad.abs().sum() > 0 and tokens.grad.abs().sum() > 0


def test_actor_head_shapes_and_gradients():
    stage = ActorStage(hidden_dim=16, dim_feedforward=32, num_heads=2, dropout=0.0,
                       dim_dynamic=4, num_dynamic=2, pooler_resolution=3)
    head = ActorLocalizationHead(stage=stage, num_stages=3, num_proposals=6, hidden_dim=16,
                                 level_names=("p2", "p3"), pooler_resolution=3)
    feats = {"p2": torch.randn(2, 16, 64, 64, requires_grad=True),
             "p3": torch.randn(2, 16, 32, 32, requires_grad=True)}
    sizes = torch.tensor([[256, 256], [192, 240]])
    init = head.initial_boxes(sizes)
    assert torch.allclose(init[1], torch.tensor([[0.0, 0.0, 240.0, 192.0]]).expand(6, 4))
    outs = head(feats, sizes, (256, 256))
    assert len(outs) == 3
    assert outs[-1]["logits"].shape == (2, 6, 2) and outs[-1]["boxes"].shape == (2, 6, 4)
    assert outs[-1]["features"].shape == (2, 6, 16)
    sum(o["logits"].sum() + o["boxes"].sum() for o in outs).backward()
    # whole-frame proposals (>= 112 px) pool from the coarsest level, p3
    assert feats["p3"].grad[:, :, :24, :30].abs().sum(dim=(1, 2, 3)).min() > 0
    assert head.init_features.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("fusion", ["cross_attention", "sum", "concat"])
def test_action_head_shapes_and_gradients(fusion):
    head = ActionHead(in_channels=(32, 4), stride=32, num_frames=2, hidden_dim=16, num_heads=2,
                      dropout=0.0, dim_feedforward=32, dim_dynamic=4, num_dynamic=2,
                      pooler_resolution=3, num_actions=7, fusion=fusion)
    res5 = [torch.randn(2, 32, 2, 4, 4, requires_grad=True),
            torch.randn(2, 4, 8, 4, 4, requires_grad=True)]
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [10.0, 10.0, 40.0, 50.0], [5, 5, 20, 20]])
    boxes = boxes.expand(2, 3, 4)
    feats = torch.randn(2, 3, 16, requires_grad=True)
    logits = head(res5, boxes, feats)
    assert logits.shape == (2, 3, 7)
    logits.sum().backward()
    assert all(t.grad.abs().sum() > 0 for t in res5 + [feats])


def _fusion_head(fusion):
    torch.manual_seed(0)
    head = ActionHead(in_channels=(8,), stride=16, num_frames=3, hidden_dim=8, num_heads=2,
                      dropout=0.0, dim_feedforward=16, dim_dynamic=4, num_dynamic=2,
                      pooler_resolution=2, num_actions=3, fusion=fusion).eval()
    res5 = [torch.randn(1, 8, 3, 4, 4)]
    boxes = torch.tensor([[[0.0, 0.0, 64.0, 64.0], [8.0, 4.0, 40.0, 60.0], [30.0, 30.0, 60.0, 50.0]]])
    return head, res5, boxes, torch.randn(1, 3, 8)


@pytest.mark.parametrize("fusion", ["cross_attention", "sum", "concat"])
def test_action_fusion_uses_the_temporal_branch(fusion):
    """Reversing time keeps the spatial tokens (a time average) and changes only the temporal ones."""
    head, res5, boxes, feats = _fusion_head(fusion)
    with torch.no_grad():
        # equal up to the order of the float sums
        torch.testing.assert_close(head.spatial_tokens(res5, boxes), head.spatial_tokens([res5[0].flip(2)], boxes))
        logits = head(res5, boxes, feats)
        reversed_logits = head([res5[0].flip(2)], boxes, feats)
    assert (logits - reversed_logits).abs().max() > 1e-4


@pytest.mark.parametrize("fusion", ["cross_attention", "sum", "concat"])
def test_action_fusion_formula(fusion):
    """The fused feature (the FFN's input) from the two branches' outputs f_s, f_t (N, P, d)."""
    head, res5, boxes, feats = _fusion_head(fusion)
    seen = {}
    head.spatial.register_forward_hook(lambda m, i, o: seen.update(f_s=o))
    head.temporal.register_forward_hook(lambda m, i, o: seen.update(f_t=o))
    head.ffn.register_forward_hook(lambda m, i, o: seen.update(fused=i[0]))
    with torch.no_grad():
        head(res5, boxes, feats)
        f_s, f_t = seen["f_s"], seen["f_t"]
        assert not torch.allclose(f_s, f_t, atol=1e-3)
        if fusion == "sum":
            expected = f_s + f_t
        elif fusion == "concat":
            expected = head.concat_proj(torch.cat([f_s, f_t], dim=2))
        else:  # each actor's spatial feature is the query; all actors' temporal features key and value
            expected = head.fusion_norm(f_s + head.cross_attn(f_s, f_t, f_t, need_weights=False)[0])
            swapped = head.fusion_norm(f_s + head.cross_attn(f_t, f_s, f_t, need_weights=False)[0])
            assert not torch.allclose(seen["fused"], swapped, atol=1e-4)
    torch.testing.assert_close(seen["fused"], expected)


def test_action_head_temporal_tokens_follow_frames():
    head = ActionHead(in_channels=(4,), stride=32, num_frames=3, hidden_dim=4, num_heads=1,
                      dropout=0.0, dim_feedforward=8, dim_dynamic=2, num_dynamic=2,
                      pooler_resolution=2, num_actions=2)
    with torch.no_grad():
        head.temporal_proj[0].weight.copy_(torch.eye(4).view(4, 4, 1, 1, 1))
        head.temporal_proj[0].bias.zero_()
    # frame t of clip n is the constant (n + 1) * (t + 1): the box average recovers it
    values = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    res5 = [values.view(2, 1, 3, 1, 1).expand(2, 4, 3, 4, 4).contiguous()]
    boxes = torch.tensor([[16.0, 16.0, 96.0, 96.0]]).expand(2, 1, 4)
    tokens = head.temporal_tokens(res5, boxes)  # (N * P, T, d)
    assert tokens.shape == (2, 3, 4)
    assert torch.allclose(tokens[:, :, 0], values)


@pytest.mark.parametrize("arch", ["slow", "slowfast"])
def test_whole_model_training_step_learns(arch):
    torch.manual_seed(0)
    cfg = tiny_cfg(arch)
    model = build_model(cfg)
    assert isinstance(model, WOO)
    inputs = tiny_inputs(cfg.INPUT.NUM_FRAMES)
    model.train()
    losses = model(inputs)
    expected = {"loss_ce", "loss_bbox", "loss_giou", "loss_action",
                "loss_ce_0", "loss_bbox_0", "loss_giou_0"}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    total = sum(losses.values())
    total.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = total.item()
    for _ in range(15):
        opt.zero_grad()
        loss = sum(model(inputs).values())
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


@pytest.mark.parametrize("train_boxes", ["predicted", "ground_truth"])
def test_action_head_training_boxes(train_boxes):
    """In training the action head pools the final boxes, or with "ground_truth" each matched
    proposal's ground-truth box (in pixels) and the others' predicted boxes; in inference
    always the predicted ones. The action loss is on the proposals the box losses match."""
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg.MODEL.WOO.ACTION_TRAIN_BOXES = train_boxes
    model = build_model(cfg)
    heads = model.roi_heads
    seen, stages, matched = [], [], []
    heads.action_head.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    heads.actor_head.register_forward_hook(lambda m, args, out: stages.append(out[-1]["boxes"].detach()))
    match = heads.criterion.matcher.forward
    heads.criterion.matcher.forward = lambda outputs, targets: matched.append(match(outputs, targets)) or matched[-1]
    inputs = tiny_inputs()
    model.train()(inputs)
    predicted, pooled = stages[0], seen[0]
    (src, tgt), (empty_src, _) = matched[0]  # the final stage's matching comes first in both modes
    assert len(src) == 2 and len(empty_src) == 0
    others = torch.ones(predicted.shape[1], dtype=torch.bool)
    others[src] = False
    assert len(matched) == 2  # the final stage once (its losses reuse it), the earlier stage once
    if train_boxes == "ground_truth":
        assert torch.allclose(pooled[0, src], inputs[0]["gt_boxes"][tgt])
        assert not torch.allclose(predicted[0, src], inputs[0]["gt_boxes"][tgt])
    else:
        assert torch.equal(pooled[0, src], predicted[0, src])
    assert torch.equal(pooled[0, others], predicted[0, others])
    assert torch.equal(pooled[1], predicted[1])
    seen.clear(), stages.clear()
    with torch.no_grad():
        model.eval()(inputs)
    assert torch.equal(seen[0], stages[0])


def test_inference_threshold_cap_and_clipping():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg.MODEL.WOO.SCORE_THRESH_TEST = 0.0
    cfg.TEST.DETECTIONS_PER_IMAGE = 5
    model = build_model(cfg).eval()
    inputs = tiny_inputs()
    with torch.no_grad():
        results = model(inputs)
        as_float = model([{"clip": d["clip"].float(), "image_size": d["image_size"]} for d in inputs])
    assert len(results) == 2
    for r, d in zip(results, inputs):
        h, w = d["image_size"]
        assert r["boxes"].shape == (5, 4) and r["scores"].shape == (5,)
        assert r["actions"].shape == (5, NUM_ACTIONS)
        assert ((r["actions"] >= 0) & (r["actions"] <= 1)).all()
        assert (r["boxes"][:, 0::2] <= w).all() and (r["boxes"][:, 1::2] <= h).all()
        assert (r["boxes"] >= 0).all()
        assert (r["scores"][:-1] >= r["scores"][1:]).all()
    assert torch.allclose(results[0]["boxes"], as_float[0]["boxes"])
    # every score is a probability below 1, so a threshold just below the top keeps only the top
    model.score_thresh = results[0]["scores"][0].item() - 1e-6
    model.min_detections_per_clip = 0  # the default keeps 3 whatever their score
    with torch.no_grad():
        top = model(inputs[:1])[0]
    assert len(top["scores"]) == 1


def test_model_input_errors():
    model = build_model(tiny_cfg())
    clip = torch.zeros(3, 4, 64, 64, dtype=torch.uint8)  # 4 frames, config wants 8
    with pytest.raises(ValueError, match="INPUT.NUM_FRAMES"):
        model([{"clip": clip, "image_size": (64, 64)}])
    inputs = tiny_inputs()
    del inputs[0]["gt_actions"]
    with pytest.raises(KeyError, match="gt_actions"):
        model.train()(inputs)
    inputs = tiny_inputs()
    inputs[0]["gt_actions"] = torch.zeros(2, NUM_ACTIONS + 1)
    with pytest.raises(ValueError, match="gt_actions"):
        model.train()(inputs)


@pytest.mark.parametrize("key,value,match", [
    ("MODEL.VIDEO_RESNET.ARCH", "x3d", "MODEL.VIDEO_RESNET.ARCH"),
    ("MODEL.VIDEO_RESNET.DEPTH", 34, "MODEL.VIDEO_RESNET.DEPTH"),
    ("MODEL.VIDEO_RESNET.STAGE_DEPTHS", [1, 1, 1], "MODEL.VIDEO_RESNET.STAGE_DEPTHS"),
    ("MODEL.VIDEO_RESNET.RES5_DILATION", 3, "MODEL.VIDEO_RESNET.RES5_DILATION"),
    # With the FPN on, a dilated res5 has res4's stride: its level would replace res4's.
    ("MODEL.VIDEO_RESNET.RES5_DILATION", 2, "RES5_DILATION 2 .* MODEL.WOO.USE_FPN False"),
    ("MODEL.WOO.NUM_HEADS", 5, "MODEL.WOO.NUM_HEADS"),
    ("MODEL.WOO.ACTION_FUSION", "product", "MODEL.WOO.ACTION_FUSION"),
    ("MODEL.WOO.ACTION_TRAIN_BOXES", "gt", "MODEL.WOO.ACTION_TRAIN_BOXES"),
    ("MODEL.WOO.NUM_DYNAMIC", 1, "MODEL.WOO.NUM_DYNAMIC"),
    ("MODEL.FPN.OUT_CHANNELS", 64, "MODEL.FPN.OUT_CHANNELS"),
    ("INPUT.NUM_FRAMES", 10, "INPUT.NUM_FRAMES"),
    ("MODEL.WOO.SCORE_THRESH_TEST", 1.5, "SCORE_THRESH_TEST"),
])
def test_config_errors_name_the_key(key, value, match):
    cfg = tiny_cfg()
    cfg.merge_from_list([key, value])
    with pytest.raises(ValueError, match=match):
        build_model(cfg)


@pytest.mark.parametrize("arch", ["slow", "slowfast"])
def test_backbone_output_contract(arch):
    cfg = tiny_cfg(arch)
    backbone = VideoResNetFPN(**VideoResNetFPN.from_config(cfg))
    shapes = backbone.output_shape()
    expected = ["p2", "p3", "p4", "p5", "res5"] + (["res5_fast"] if arch == "slowfast" else [])
    assert sorted(shapes) == expected
    t = cfg.INPUT.NUM_FRAMES
    features = backbone(torch.randn(2, 3, t, 64, 96))
    assert sorted(features) == expected
    for name, shape in shapes.items():
        size = (64 // shape.stride, 96 // shape.stride)
        if name.startswith("p"):
            assert features[name].shape == (2, shape.channels, *size), name
        else:
            frames = t // 4 if name == "res5" and arch == "slowfast" else t
            assert features[name].shape == (2, shape.channels, frames, *size), name


def test_norm_choices():
    from torchvision.ops import FrozenBatchNorm2d

    from woo.modeling.norm import FrozenBatchNorm3d

    cfg = tiny_cfg()
    types = {}
    for norm in ("BN", "FrozenBN", "SyncBN"):
        cfg.MODEL.VIDEO_RESNET.NORM = norm
        bb = VideoResNet(**VideoResNet.from_config(cfg))
        types[norm] = {type(m) for m in bb.modules() if isinstance(m, (nn.modules.batchnorm._NormBase, FrozenBatchNorm2d))}
    assert types == {"BN": {nn.BatchNorm3d}, "FrozenBN": {FrozenBatchNorm3d}, "SyncBN": {nn.SyncBatchNorm}}
    # Frozen: no trainable norm parameter, same state-dict keys as BN (Kinetics checkpoints load).
    cfg.MODEL.VIDEO_RESNET.NORM = "FrozenBN"
    frozen = VideoResNet(**VideoResNet.from_config(cfg))
    cfg.MODEL.VIDEO_RESNET.NORM = "BN"
    bn = VideoResNet(**VideoResNet.from_config(cfg))
    bn_keys = {k for k in bn.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(frozen.state_dict()) == bn_keys
    assert sum(p.numel() for p in frozen.parameters()) < sum(p.numel() for p in bn.parameters())
    # FrozenBN equals BN in eval mode with the same statistics, in train mode too.
    layer = nn.BatchNorm3d(3).eval()
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        layer.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
        layer.weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
        layer.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    fbn = FrozenBatchNorm3d(3)
    fbn.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 4, 5, 5)
    torch.testing.assert_close(fbn.train()(x), layer(x))
    cfg.MODEL.VIDEO_RESNET.NORM = "GN"
    with pytest.raises(ValueError, match="MODEL.VIDEO_RESNET.NORM"):
        build_model(cfg)


def test_unknown_backbone_and_heads():
    cfg = tiny_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    with pytest.raises(KeyError, match="build_resnet_backbone"):
        build_model(cfg)
    cfg = tiny_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    with pytest.raises(KeyError, match="StandardROIHeads"):
        build_model(cfg)


def test_unknown_meta_architecture():
    cfg = tiny_cfg()
    cfg.MODEL.META_ARCHITECTURE = "DETR"
    with pytest.raises(KeyError, match="DETR"):
        build_model(cfg)


def test_action_head_temporal_tokens_are_the_box_mean_of_roi_align_on_every_frame():
    """SlowFast res5: both pathways projected, the fast one averaged to the slow frames,
    then each box's aligned RoIAlign on each frame averaged over its bins (torchvision's
    roi_align as the reference), for boxes inside, across and outside the map."""
    from torchvision.ops import roi_align

    torch.manual_seed(0)
    head = ActionHead(in_channels=(6, 3), stride=16, num_frames=2, hidden_dim=4, num_heads=1,
                      dropout=0.0, dim_feedforward=8, dim_dynamic=2, num_dynamic=2,
                      pooler_resolution=3, num_actions=2).eval()
    res5 = [torch.randn(2, 6, 2, 5, 7), torch.randn(2, 3, 8, 5, 7)]
    boxes = torch.tensor([[[0.0, 0.0, 112.0, 80.0], [10.0, 5.0, 60.0, 70.0], [-40.0, -20.0, 30.0, 20.0]],
                          [[90.0, 60.0, 150.0, 100.0], [-300.0, -300.0, -200.0, -200.0], [3.0, 4.0, 9.0, 8.0]]])
    with torch.no_grad():
        tokens = head.temporal_tokens(res5, boxes)
        slow = head.temporal_proj[0](res5[0])
        fast = head.temporal_proj[1](res5[1]).unflatten(2, (2, 4)).mean(dim=3)
        fmap = slow + fast  # (N, d, T, H, W)
        for n in range(2):
            for t in range(2):
                ref = roi_align(fmap[n, :, t][None], [boxes[n]], 3, 1 / 16, sampling_ratio=2,
                                aligned=True).mean(dim=(2, 3))
                torch.testing.assert_close(tokens.view(2, 3, 2, 4)[n, :, t], ref)
