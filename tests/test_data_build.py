"""Samplers, loaders, and the catalog's auto-generated synthetic dataset."""
import itertools
import os

import pytest
import torch

from woo.config import get_cfg
from woo.data.build import InferenceSampler, TrainingSampler, build_test_loader, build_train_loader
from woo.data import synthetic
from woo.data.catalog import datasets_root, get_split, load_dataset_dicts


@pytest.fixture
def datasets(woo_datasets):
    """The session's synthetic set (generated once for the whole test run, tests/conftest.py)."""
    return woo_datasets


def test_root_defaults_to_local_datasets(monkeypatch):
    monkeypatch.delenv("WOO_DATASETS", raising=False)
    assert datasets_root() == "./datasets"


def test_synthetic_split_is_generated_on_first_use(tmp_path, monkeypatch):
    tiny = synthetic.SyntheticConfig(train_videos=2, val_videos=1, key_frames=3, width=48, height=32)
    monkeypatch.setattr(synthetic, "SyntheticConfig", lambda: tiny)  # the defaults, made small
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    assert not os.path.exists(tmp_path / "woo_synthetic")
    split = get_split("woo_synthetic_val")
    assert split.frames_dir == os.path.join(str(tmp_path), "woo_synthetic", "frames")
    assert split.num_actions == 6 and split.all_key_frames and split.label_map == split.eval_label_map
    stamp = os.path.getmtime(split.annotations)
    assert get_split("woo_synthetic_val").annotations == split.annotations
    assert os.path.getmtime(split.annotations) == stamp  # not regenerated
    records = load_dataset_dicts("woo_synthetic_train")
    assert len(records) == tiny.train_videos * tiny.key_frames - tiny.excluded_key_frames
    assert all(r["frame_paths"] is records[0]["frame_paths"] for r in records if r["video_id"] == "train000")
    assert [k for k in os.listdir(tmp_path) if k.startswith(".")] == []


def test_half_written_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    (tmp_path / "woo_synthetic").mkdir()
    with pytest.raises(FileExistsError, match="woo_synthetic.json"):
        get_split("woo_synthetic_train")


def test_training_sampler_shards_are_disjoint_and_seeded():
    take = lambda s: list(itertools.islice(iter(s), 12))  # noqa: E731
    ranks = [take(TrainingSampler(12, seed=5, rank=r, world_size=2)) for r in range(2)]
    single = take(TrainingSampler(12, seed=5))
    assert sorted(ranks[0][:6] + ranks[1][:6]) == list(range(12))
    assert ranks[0][:6] == single[0:12:2]
    assert take(TrainingSampler(12, seed=5)) == single != take(TrainingSampler(12, seed=6))
    assert take(TrainingSampler(5, shuffle=False)) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]


def test_inference_sampler_covers_the_set_once():
    shards = [list(InferenceSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def _cfg(workers):
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = ("woo_synthetic_train",)
    cfg.MODEL.WOO.NUM_ACTIONS = 6  # the synthetic set's classes
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 4, 4
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (96, 128), 1333
    cfg.INPUT.MIN_SIZE_TEST = 120
    cfg.SOLVER.IMS_PER_BATCH = 3
    cfg.DATALOADER.NUM_WORKERS = workers
    cfg.SEED = 7
    return cfg


@pytest.mark.parametrize("workers", [0, 2])
def test_train_loader_is_endless_seeded_and_batched(datasets, workers):
    def first_batches(cfg):
        batches = list(itertools.islice(iter(build_train_loader(cfg)), 4))
        return [[(d["video_id"], d["timestamp"], d["image_size"]) for d in b] for b in batches], batches

    keys, batches = first_batches(_cfg(workers))
    assert all(len(b) == 3 for b in batches)
    for d in batches[0]:
        h, w = d["image_size"]
        assert d["clip"].shape == (3, 4, h, w) and 96 <= min(h, w) <= 128
        assert d["gt_boxes"].shape == (len(d["gt_actions"]), 4) and d["gt_actions"].shape[1] == 6
    assert first_batches(_cfg(workers))[0] == keys
    other = _cfg(workers)
    other.SEED = 8
    assert first_batches(other)[0] != keys


def test_filter_empty_annotations(datasets):
    cfg = _cfg(0)
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True
    batches = itertools.islice(iter(build_train_loader(cfg)), 30)
    assert all(len(d["gt_boxes"]) for b in batches for d in b)


def test_test_loader_covers_the_split_once(datasets):
    loader = build_test_loader(_cfg(0), "woo_synthetic_val")
    items = [d for batch in loader for d in batch]
    keys = [(d["video_id"], d["timestamp"]) for d in items]
    assert len(keys) == len(set(keys)) == len(load_dataset_dicts("woo_synthetic_val"))
    assert all(d["image_size"] == (120, 160) and d["clip"].dtype == torch.uint8 for d in items)
    assert sum(len(d["gt_boxes"]) == 0 for d in items) >= 1
