"""detectron2 binding: config, registries, model in/out, mapper, loaders, evaluator, drawing."""
import glob
import os

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.layers import ShapeSpec  # noqa: E402
from detectron2.modeling import BACKBONE_REGISTRY, ROI_HEADS_REGISTRY, Backbone, build_backbone, build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402
from fvcore.common.config import CfgNode  # noqa: E402
from torch import nn  # noqa: E402

import woo.config  # noqa: E402
import woo.d2  # noqa: E402
from woo.d2.datasets import register_woo_datasets  # noqa: E402
from woo.data.catalog import get_split  # noqa: E402
from woo.engine.ava_evaluator import AVAEvaluator  # noqa: E402
from woo.engine.optim import build_optimizer  # noqa: E402
from woo.modeling import WOO as CoreWOO  # noqa: E402
from woo.modeling import VideoResNet  # noqa: E402
from woo.modeling import build_model as build_core_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("Base-")
)
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")


def _d2_cfg(path, *opts):
    cfg = woo.d2.get_cfg()
    cfg.merge_from_file(os.path.join(REPO, path))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def _woo_cfg(path, *opts):
    cfg = woo.config.get_cfg()
    cfg.merge_from_file(os.path.join(REPO, path))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, CfgNode):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", list(value) if isinstance(value, (tuple, list)) else value


def test_configs_exist():
    assert "configs/Synthetic/WOO_Instant.yaml" in CONFIGS
    assert "configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml" in CONFIGS


@pytest.mark.parametrize("path", CONFIGS)
def test_config_means_the_same_in_both_engines(path):
    d2_values = dict(_leaves(_d2_cfg(path)))
    for key, value in _leaves(_woo_cfg(path)):
        assert d2_values[key] == value, key


@pytest.mark.parametrize("path", CONFIGS)
def test_build_model_from_every_config(path):
    model = build_model(_d2_cfg(path))
    assert isinstance(model, woo.d2.WOO) and isinstance(model, CoreWOO)
    cfg = _d2_cfg(path)
    assert model.num_frames == cfg.INPUT.NUM_FRAMES
    assert isinstance(model.backbone, woo.d2.VideoResNetFPNBackbone)
    assert isinstance(model.roi_heads, woo.d2.WOOROIHeads)
    assert model.roi_heads.action_head.classifier.out_features == cfg.MODEL.WOO.NUM_ACTIONS


@pytest.mark.parametrize("path", ["configs/Synthetic/WOO_Instant.yaml", "configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml"])
def test_state_dict_keys_are_the_core_models(path):
    d2_state = build_model(_d2_cfg(path)).state_dict()
    core_state = build_core_model(_woo_cfg(path)).state_dict()
    assert list(d2_state) == list(core_state)
    assert all(d2_state[k].shape == core_state[k].shape for k in d2_state)


def test_pretrained_backbone_is_loaded(tmp_path):
    cfg = _d2_cfg(INSTANT)
    kinetics = VideoResNet(**VideoResNet.from_config(cfg)).state_dict()
    path = str(tmp_path / "kinetics.pyth")
    torch.save({"model_state": kinetics}, path)
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = path
    model = build_model(cfg)
    for key, value in model.backbone.bottom_up.state_dict().items():
        assert torch.equal(value, kinetics[key]), key


def test_backbone_in_detectron2_registry():
    cfg = _d2_cfg(INSTANT)
    backbone = build_backbone(cfg)
    assert isinstance(backbone, Backbone) and backbone.size_divisibility == 32
    shapes = backbone.output_shape()
    assert all(isinstance(s, ShapeSpec) for s in shapes.values())
    assert sorted(shapes) == ["p2", "p3", "p4", "p5", "res5", "res5_fast"]
    alpha, t = cfg.MODEL.VIDEO_RESNET.ALPHA, cfg.INPUT.NUM_FRAMES
    features = backbone(torch.randn(2, 3, t, 64, 96))
    for name, shape in shapes.items():
        size = (64 // shape.stride, 96 // shape.stride)
        if name.startswith("p"):
            assert features[name].shape == (2, shape.channels, *size), name
        else:
            frames = t if name.endswith("_fast") else t // alpha
            assert features[name].shape == (2, shape.channels, frames, *size), name
    assert shapes["res5"].stride == 32 and shapes["res5"].channels == 8 * 32


class _ToyVideoBackbone(Backbone):
    """A user's backbone: one key-frame level "p4" and a slow-only "res5" from pooled pixels."""

    def __init__(self, channels, num_frames):
        super().__init__()
        self.num_frames = num_frames
        self.key = nn.Conv2d(3, channels, 1)
        self.video = nn.Conv3d(3, 24, 1)

    def forward(self, clip):
        key = clip[:, :, clip.shape[2] // 2]
        video = clip[:, :, :: clip.shape[2] // self.num_frames][:, :, : self.num_frames]
        return {"p4": self.key(nn.functional.avg_pool2d(key, 16)),
                "res5": self.video(nn.functional.avg_pool3d(video, (1, 32, 32)))}

    def output_shape(self):
        return {"p4": ShapeSpec(channels=self.key.out_channels, stride=16), "res5": ShapeSpec(channels=24, stride=32)}


def build_toy_video_backbone(cfg, input_shape):
    return _ToyVideoBackbone(cfg.MODEL.WOO.HIDDEN_DIM, cfg.INPUT.NUM_FRAMES)


class _CountingROIHeads(woo.d2.WOOROIHeads):
    """A user's heads: WOO's, counting its calls."""

    calls = 0

    def forward(self, *args, **kwargs):
        type(self).calls += 1
        return super().forward(*args, **kwargs)


def test_a_users_backbone_and_heads_plug_in_by_name():
    if "build_toy_video_backbone" not in BACKBONE_REGISTRY:
        BACKBONE_REGISTRY.register(build_toy_video_backbone)
        ROI_HEADS_REGISTRY.register(_CountingROIHeads)
    cfg = _d2_cfg(INSTANT, "MODEL.BACKBONE.NAME", "build_toy_video_backbone", "MODEL.ROI_HEADS.NAME",
                  "_CountingROIHeads", "MODEL.VIDEO_RESNET.ARCH", "slow", "INPUT.NUM_FRAMES", "2")
    # Seeded: with this toy backbone's unnormalized p4, about one random init in twenty puts every matched
    # actor's first-step box outside the 64x96 frame, where RoIAlign reads no res5 feature (so no gradient).
    torch.manual_seed(0)
    model = build_model(cfg)
    assert type(model.backbone) is _ToyVideoBackbone and type(model.roi_heads) is _CountingROIHeads
    assert model.roi_heads.actor_in_features == ("p4",) and model.roi_heads.action_in_features == ("res5",)
    model.train()
    losses = model(_clip_inputs(cfg, with_instances=True))
    sum(losses.values()).backward()
    assert model.backbone.key.weight.grad.abs().sum() > 0 and model.backbone.video.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        outputs = model(_clip_inputs(cfg, with_instances=False))
    assert _CountingROIHeads.calls == 2 and len(outputs) == 2


@pytest.mark.parametrize("key,name", [("MODEL.BACKBONE.NAME", "build_no_backbone"), ("MODEL.ROI_HEADS.NAME", "NoHeads")])
def test_unknown_names_are_detectron2_key_errors(key, name):
    with pytest.raises(KeyError, match=name):
        build_model(_d2_cfg(INSTANT, key, name))


def _clip_inputs(cfg, with_instances):
    torch.manual_seed(0)
    t, c = cfg.INPUT.NUM_FRAMES, cfg.MODEL.WOO.NUM_ACTIONS
    inputs = []
    for size, boxes in [((64, 96), [[4.0, 6.0, 40.0, 60.0]]), ((64, 64), [[0.0, 0.0, 30.0, 30.0], [20.0, 10.0, 60.0, 50.0]])]:
        boxes = torch.tensor(boxes)
        actions = torch.zeros(len(boxes), c)
        actions[:, 1] = 1.0
        d = {"clip": torch.randint(0, 256, (3, t, *size), dtype=torch.uint8), "image_size": size,
             "height": 2 * size[0], "width": 3 * size[1]}
        if with_instances:
            d["instances"] = Instances(size, gt_boxes=Boxes(boxes), gt_actions=actions)
        else:  # the core model's ground truth
            d.update(gt_boxes=boxes, gt_actions=actions)
        inputs.append(d)
    return inputs


def _twin_models(cfg):
    d2_model = build_model(cfg)
    core = CoreWOO(**CoreWOO.from_config(cfg))
    core.load_state_dict(d2_model.state_dict())
    return d2_model, core


def test_training_step_takes_instances_and_matches_core_losses():
    cfg = _d2_cfg(INSTANT)
    d2_model, core = _twin_models(cfg)
    d2_model.train(), core.train()
    torch.manual_seed(1)
    losses = d2_model(_clip_inputs(cfg, with_instances=True))
    torch.manual_seed(1)
    core_losses = core(_clip_inputs(cfg, with_instances=False))
    assert {"loss_ce", "loss_bbox", "loss_giou", "loss_action", "loss_ce_0"} <= set(losses)
    assert set(losses) == set(core_losses)
    for k in losses:
        torch.testing.assert_close(losses[k], core_losses[k], rtol=0, atol=0, msg=k)

    # detectron2's DefaultTrainer wraps the model in DDP without find_unused_parameters.
    sum(losses.values()).backward(retain_graph=True)
    assert all(p.grad is not None for p in d2_model.parameters() if p.requires_grad)
    d2_model.zero_grad()

    optimizer = build_optimizer(cfg, d2_model)
    before = {n: p.detach().clone() for n, p in d2_model.named_parameters()}
    (sum(losses.values()) * 1e4).backward()  # a large loss, so clipping has work to do
    optimizer.step()
    grads = [p.grad for p in d2_model.parameters() if p.grad is not None]
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert total_norm <= cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE * 1.0001
    name = "roi_heads.action_head.classifier.weight"
    assert not torch.equal(before[name], d2_model.roi_heads.action_head.classifier.weight)


def test_inference_gives_instances_at_requested_size():
    cfg = _d2_cfg(INSTANT, "MODEL.WOO.SCORE_THRESH_TEST", "0.0")
    d2_model, core = _twin_models(cfg)
    d2_model.eval(), core.eval()
    with torch.no_grad():
        outputs = d2_model(_clip_inputs(cfg, with_instances=False))
        core_outputs = core(_clip_inputs(cfg, with_instances=False))
    for out, ref, (h, w) in zip(outputs, core_outputs, [(64, 96), (64, 64)]):
        instances = out["instances"]
        assert instances.image_size == (2 * h, 3 * w)
        assert len(instances) == len(ref["boxes"]) == cfg.TEST.DETECTIONS_PER_IMAGE
        torch.testing.assert_close(instances.pred_boxes.tensor, ref["boxes"] * torch.tensor([3.0, 2.0, 3.0, 2.0]))
        torch.testing.assert_close(instances.scores, ref["scores"])
        torch.testing.assert_close(instances.pred_actions, ref["actions"])


def test_datasets_register_without_reading_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    names = ["ava_v2.1_train", "ava_v2.1_val", "ava_v2.2_train", "ava_v2.2_val", "woo_synthetic_train", "woo_synthetic_val"]
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_woo_datasets()
    assert set(names) <= set(DatasetCatalog.list())
    meta = MetadataCatalog.get("ava_v2.2_val")
    assert meta.evaluator_type == "ava" and meta.num_actions == 80
    assert meta.groundtruth_csv == os.path.join(str(tmp_path), "ava", "annotations", "ava_val_v2.2.csv")
    assert meta.eval_label_map.endswith("ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert meta.exclusions.endswith("ava_val_excluded_timestamps_v2.2.csv")
    assert os.listdir(tmp_path) == []
    # First use of a synthetic split generates it; its label map names the action columns.
    synthetic = MetadataCatalog.get("woo_synthetic_val")
    assert synthetic.action_classes == ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
    assert len(DatasetCatalog.get("woo_synthetic_val")) > 0


def test_mapper_and_loaders(woo_datasets):
    cfg = _d2_cfg(INSTANT)
    records = DatasetCatalog.get("woo_synthetic_train")
    record = next(r for r in records if len(r["boxes"]) == 2)
    mapper = woo.d2.ClipDatasetMapper(cfg, is_train=True)
    torch.manual_seed(3)
    d = mapper(record)
    torch.manual_seed(3)
    ref = mapper.clip_mapper(record)
    assert torch.equal(d["clip"], ref["clip"]) and d["image_size"] == ref["image_size"]
    assert d["instances"].image_size == ref["image_size"]
    assert torch.equal(d["instances"].gt_boxes.tensor, ref["gt_boxes"])
    assert torch.equal(d["instances"].gt_actions, ref["gt_actions"])
    assert "gt_boxes" not in d
    assert "instances" not in woo.d2.ClipDatasetMapper(cfg, is_train=False)(record)

    batch = next(iter(woo.d2.build_clip_train_loader(cfg)))
    assert len(batch) == cfg.SOLVER.IMS_PER_BATCH and all("instances" in x for x in batch)
    val = DatasetCatalog.get("woo_synthetic_val")
    seen = [(x["video_id"], x["timestamp"]) for b in woo.d2.build_clip_test_loader(cfg, "woo_synthetic_val") for x in b]
    assert seen == [(r["video_id"], r["timestamp"]) for r in val]


def test_evaluator_perfect_detections_and_engine_parity(woo_datasets, tmp_path):
    val = DatasetCatalog.get("woo_synthetic_val")
    evaluator = woo.d2.build_evaluator(woo.d2.get_cfg(), "woo_synthetic_val", str(tmp_path))
    engine = AVAEvaluator(get_split("woo_synthetic_val"))
    evaluator.reset(), engine.reset()
    for r in val:
        h, w = r["height"], r["width"]
        boxes = torch.from_numpy(r["boxes"] * np.array([w, h, w, h], dtype=np.float32))
        actions = torch.from_numpy(r["actions"])
        scores = torch.ones(len(boxes))
        inp = {"video_id": r["video_id"], "timestamp": r["timestamp"], "height": h, "width": w}
        instances = Instances((h, w), pred_boxes=Boxes(boxes), scores=scores, pred_actions=actions)
        evaluator.process([inp], [{"instances": instances}])
        engine.process([dict(inp, image_size=(h, w))], [{"boxes": boxes, "scores": scores, "actions": actions}])
    result = evaluator.evaluate()
    reference = engine.evaluate()
    assert list(result) == ["frame_mAP"]
    assert result["frame_mAP"]["frame_mAP@0.5"] == pytest.approx(1.0)
    assert result["frame_mAP"]["frame_mAP@0.5"] == reference["frame_mAP@0.5"]
    assert {k: v for k, v in result["frame_mAP"].items() if k.startswith("AP-")} == {
        f"AP-{k}": v for k, v in reference["per_class"].items()
    }
    rows = open(os.path.join(str(tmp_path), "detections.csv")).read().splitlines()
    assert len(rows) == sum(len(r["boxes"]) for r in val) * 6


def test_action_instances_draw_with_detectron2s_visualizer():
    frame = np.full((128, 192, 3), 200, dtype=np.uint8)
    actions = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.05]])
    instances = Instances((32, 48), pred_boxes=Boxes(torch.tensor([[2.0, 2.0, 20.0, 30.0], [25.0, 5.0, 45.0, 25.0]])),
                          scores=torch.tensor([0.95, 0.8]), pred_actions=actions)
    labels = woo.d2.visualizer.action_labels(instances, ["stand", "walk", "sit"], top_k=2)
    assert labels == ["0.95 walk 0.90, sit 0.50", "0.80 stand 0.70, walk 0.20"]
    image = woo.d2.draw_action_instances(frame, instances, ["stand", "walk", "sit"], top_k=2)
    assert image.shape == frame.shape and image.dtype == np.uint8
    changed = (image != frame).any(axis=2)
    # Boxes are scaled from the 32 x 48 instances to the 128 x 192 frame: the first box's left edge is at x = 8, not 2.
    assert changed[40:100, 7:10].all(axis=1).any() and not changed[40:100, :5].any()
    with pytest.raises(ValueError, match="3 columns but 2 action names"):
        woo.d2.draw_action_instances(frame, instances, ["stand", "walk"])
