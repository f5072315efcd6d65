"""The dataset registry: fixed splits registered into it, splits registered from user code,
prepared sets named by their dataset.yaml, and what detectron2 sees of them."""
import os

import numpy as np
import pytest

import woo.data
from woo.data import catalog
from woo.data.prepared import FORMAT, prepared_split, read_dataset_yaml, write_dataset_yaml
from woo.formats.frame_list import read_frame_list, write_frame_list
from woo.formats.label_map import read_labelmap, write_labelmap
from woo.runtime.output_dir import inference_dir


def _tiny_set(root):
    """A prepared set by hand: one video of 10 frames at 5 FPS, key frames at seconds 0 and 1."""
    import cv2

    os.makedirs(root / "frames" / "v")
    for i in range(10):
        cv2.imwrite(str(root / "frames" / "v" / f"v_{i + 1:06d}.jpg"), np.full((24, 32, 3), 20 * i, np.uint8))
    write_frame_list(str(root / "frame_lists" / "train.csv"), {"v": [f"v/v_{i + 1:06d}.jpg" for i in range(10)]})
    (root / "annotations").mkdir()
    (root / "annotations" / "train.csv").write_text("v,0,0.1,0.1,0.5,0.5,2,0\nv,1,0.2,0.1,0.6,0.5,1,0\n")
    write_labelmap(str(root / "annotations" / "labels.pbtxt"), [{"id": 1, "name": "a"}, {"id": 2, "name": "b c"}])
    write_dataset_yaml(str(root / "dataset.yaml"), {
        "fps": 5, "num_classes": 2, "label_map": "annotations/labels.pbtxt", "frames_dir": "frames",
        "splits": {"train": {"frame_list": "frame_lists/train.csv", "annotations": "annotations/train.csv",
                             "key_frame_seconds": [0, 1]}}})
    return str(root / "dataset.yaml")


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test."""
    monkeypatch.setattr(catalog, "_REGISTRY", dict(catalog._REGISTRY))
    return catalog._REGISTRY


def test_fixed_splits_are_registered_with_their_evaluator(registry):
    names = catalog.list_splits()
    assert {"ava_v2.2_train", "woo_synthetic_val", "jhmdb21_split1_test"} <= set(names)
    assert catalog.evaluator_type("ava_v2.2_val") == "ava" and catalog.evaluator_type("ucf24_test") == "tube"
    with pytest.raises(KeyError, match="unknown dataset 'nope'.*PATH/dataset.yaml:SPLIT"):
        catalog.get_split("nope")


def test_register_dataset_from_user_code(registry, tmp_path):
    path = _tiny_set(tmp_path)
    calls = []

    def factory():
        calls.append(1)
        return prepared_split(path, "train", name="mine_train")

    woo.data.register_dataset("mine_train", factory)
    assert calls == [] and "mine_train" in catalog.list_splits()  # registering reads nothing
    assert catalog.evaluator_type("mine_train") == "ava"
    records = catalog.load_dataset_dicts("mine_train")
    assert len(records) == 2 and records.num_actions == 2
    # frames at 5 FPS from second 0: second 1 is frame 5
    assert [r["key_frame_index"] for r in records] == [0, 5] and records[0]["actions"].tolist() == [[0, 1]]
    assert catalog.class_names("mine_train", 2) == ["a", "b c"]
    with pytest.raises(ValueError, match="registered already"):
        woo.data.register_dataset("mine_train", factory)
    with pytest.raises(ValueError, match="evaluator_type must be"):
        woo.data.register_dataset("other", factory, evaluator_type="coco")
    # a split object registers as it is, with its own evaluator type
    woo.data.register_dataset("mine_again", prepared_split(path, "train"))
    assert catalog.get_split("mine_again").fps == 5


def test_prepared_names_need_no_registering(registry, tmp_path):
    path = _tiny_set(tmp_path)
    name = f"{path}:train"
    assert name not in catalog.list_splits() and catalog.evaluator_type(name) == "ava"
    split = catalog.get_split(name)
    assert (split.name, split.first_second, split.exclusions) == (name, 0, None)
    assert split.eval_label_map == split.label_map == str(tmp_path / "annotations" / "labels.pbtxt")


def test_dataset_yaml_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "dataset.yaml"
    bad.write_text("fps: 30\n")
    with pytest.raises(ValueError, match=f"{bad}: not a set written by woo prepare"):
        read_dataset_yaml(str(bad))
    bad.write_text(f"format: {FORMAT}\nfps: 30\nnum_classes: 2\nlabel_map: l.pbtxt\nframes_dir: f\n")
    with pytest.raises(ValueError, match="key 'splits' missing"):
        read_dataset_yaml(str(bad))
    with pytest.raises(FileNotFoundError, match="write it with woo prepare"):
        read_dataset_yaml(str(tmp_path / "none.yaml"))


def test_writers_round_trip(tmp_path):
    write_frame_list(str(tmp_path / "l.csv"), {"a": ["a/1.jpg", "a/2.jpg"], "b": ["b/x.png"]})
    frames = read_frame_list(str(tmp_path / "l.csv"))
    assert list(frames) == ["a", "b"] and list(frames["a"]) == ["a/1.jpg", "a/2.jpg"]
    with pytest.raises(ValueError, match="cannot hold spaces"):
        write_frame_list(str(tmp_path / "m.csv"), {"a": ["a b.jpg"]})
    cats = [{"id": 3, "name": "hold (an object)", "label_type": "OBJECT_MANIPULATION"}, {"id": 7, "name": "x"}]
    write_labelmap(str(tmp_path / "m.pbtxt"), cats)
    assert read_labelmap(str(tmp_path / "m.pbtxt")) == (cats, {3, 7})


def test_inference_folders_of_path_named_splits_stay_inside_the_output():
    assert inference_dir("/o", "/data/set/dataset.yaml:val", 2) == "/o/inference/data_set_dataset.yaml_val"
    assert inference_dir("/o", "ava_v2.2_val", 2) == "/o/inference/ava_v2.2_val"


def test_detectron2_sees_registered_and_prepared_splits(registry, tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from woo.d2 import get_clip_dataset_dicts

    path = _tiny_set(tmp_path)
    woo.data.register_dataset("late_split", prepared_split(path, "train", name="late_split"))
    prepared = f"{path}:train"
    try:
        records = get_clip_dataset_dicts(["late_split", prepared])
        assert len(records) == 4
        for name in ("late_split", prepared):
            assert name in DatasetCatalog.list()
            meta = MetadataCatalog.get(name)
            assert meta.evaluator_type == "ava" and meta.num_actions == 2 and meta.action_classes == ["a", "b c"]
    finally:
        for name in ("late_split", prepared):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_a_split_registered_in_detectron2_alone_is_evaluated_from_its_metadata(registry, tmp_path):
    pytest.importorskip("detectron2")
    import torch
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import Boxes, Instances

    from woo.d2 import build_evaluator, get_cfg

    path = _tiny_set(tmp_path)
    records = list(catalog.load_dataset_dicts(f"{path}:train"))
    DatasetCatalog.register("d2_only", lambda: records)
    try:
        cfg = get_cfg()
        with pytest.raises(KeyError, match="set its MetadataCatalog entry's evaluator_type='ava', groundtruth_csv"):
            build_evaluator(cfg, "d2_only")
        annotations = tmp_path / "annotations"
        MetadataCatalog.get("d2_only").set(evaluator_type="ava", label_map=str(annotations / "labels.pbtxt"),
                                           groundtruth_csv=str(annotations / "train.csv"))
        evaluator = build_evaluator(cfg, "d2_only")
        evaluator.reset()
        for record in records:  # the ground truth itself, in pixels of a 24x32 frame
            instances = Instances((24, 32))
            instances.pred_boxes = Boxes(torch.tensor(record["boxes"]) * torch.tensor([32.0, 24.0, 32.0, 24.0]))
            instances.scores = torch.ones(1)
            instances.pred_actions = torch.tensor(record["actions"])
            evaluator.process([{"video_id": record["video_id"], "timestamp": record["timestamp"], "height": 24,
                                "width": 32}], [{"instances": instances}])
        result = evaluator.evaluate()
        assert result["frame_mAP"]["frame_mAP@0.5"] == pytest.approx(1.0)
        assert set(result["frame_mAP"]) >= {"AP-a", "AP-b c"}
    finally:
        DatasetCatalog.remove("d2_only")
        MetadataCatalog.remove("d2_only")
