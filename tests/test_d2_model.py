"""detectron2 binding: config, registries, model in/out, mapper, loaders, evaluator."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.modeling import Backbone, build_backbone, build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402
from fvcore.common.config import CfgNode  # noqa: E402

import woo.config  # noqa: E402
import woo.d2  # noqa: E402
from woo.d2.datasets import register_woo_datasets  # noqa: E402
from woo.d2.solver import build_optimizer  # noqa: E402
from woo.engine.evaluator import ActionDetectionEvaluator  # noqa: E402
from woo.modeling import WOO as CoreWOO  # noqa: E402
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
    assert model.action_head.classifier.out_features == cfg.MODEL.WOO.NUM_ACTIONS


@pytest.mark.parametrize("path", ["configs/Synthetic/WOO_Instant.yaml", "configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml"])
def test_state_dict_keys_are_the_core_models(path):
    d2_state = build_model(_d2_cfg(path)).state_dict()
    core_state = build_core_model(_woo_cfg(path)).state_dict()
    assert list(d2_state) == list(core_state)
    assert all(d2_state[k].shape == core_state[k].shape for k in d2_state)


def test_pretrained_backbone_is_loaded(tmp_path):
    cfg = _d2_cfg(INSTANT)
    kinetics = woo.d2.VideoResNetBackbone.from_config(cfg).state_dict()
    path = str(tmp_path / "kinetics.pyth")
    torch.save({"model_state": kinetics}, path)
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = path
    model = build_model(cfg)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, kinetics[key]), key


def test_backbone_in_detectron2_registry():
    cfg = _d2_cfg(INSTANT)
    backbone = build_backbone(cfg)
    assert isinstance(backbone, Backbone) and backbone.size_divisibility == 32
    shapes = backbone.output_shape()
    assert sorted(shapes) == sorted(["res2", "res3", "res4", "res5", "res2_fast", "res3_fast", "res4_fast", "res5_fast"])
    alpha, t = cfg.MODEL.VIDEO_RESNET.ALPHA, cfg.INPUT.NUM_FRAMES
    features = backbone(torch.randn(2, 3, t, 64, 96))
    for name, shape in shapes.items():
        frames = t if name.endswith("_fast") else t // alpha
        assert features[name].shape == (2, shape.channels, frames, 64 // shape.stride, 96 // shape.stride), name
    assert shapes["res5"].stride == 32 and shapes["res5"].channels == 8 * 32


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
        else:
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
    assert not torch.equal(before["action_head.classifier.weight"], d2_model.action_head.classifier.weight)


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
    evaluator = woo.d2.AVAEvaluator("woo_synthetic_val", str(tmp_path))
    engine = ActionDetectionEvaluator("woo_synthetic_val")
    evaluator.reset(), engine.reset()
    for r in val:
        h, w = r["height"], r["width"]
        boxes = torch.from_numpy(r["boxes"] * np.array([w, h, w, h], dtype=np.float32))
        actions = torch.from_numpy(r["actions"])
        scores = torch.ones(len(boxes))
        inp = {"video_id": r["video_id"], "timestamp": r["timestamp"]}
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


def test_import_woo_never_imports_detectron2():
    code = (
        "import sys, woo, woo.config, woo.cli, woo.data.build, woo.modeling, woo.evaluation, woo.engine.trainer\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'detectron2')\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
