"""detectron2 data loaders over WOO's key-frame records.

The records are :class:`woo.data.records.KeyFrameRecords`, a map-style dataset that already
holds them compactly (numpy arrays, a fresh dict per lookup: what detectron2's
``DatasetFromList(serialize=True)`` does by pickling), so it is given to detectron2's
loaders as it is. A split registered in ``DatasetCatalog`` as a list of record dicts is packed
into one first.
"""
from typing import Sequence

from detectron2.data import DatasetCatalog, build_detection_test_loader, build_detection_train_loader

from woo.data.build import check_num_actions, select_key_frames
from woo.data.records import KeyFrameRecords, as_key_frame_records

from .datasets import register_woo_datasets
from .mapper import ClipDatasetMapper

__all__ = ["get_clip_dataset_dicts", "build_clip_train_loader", "build_clip_test_loader"]


def get_clip_dataset_dicts(names: Sequence[str], *, filter_empty: bool = False) -> KeyFrameRecords:
    """Records of the DatasetCatalog splits ``names``, optionally without key frames that have no actor."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("no dataset named (DATASETS.TRAIN / DATASETS.TEST is empty)")
    register_woo_datasets(names)
    parts = [DatasetCatalog.get(name) for name in names]
    for name, part in zip(names, parts):
        if not len(part):
            raise ValueError(f"dataset {name!r} has no key frame")
    records = KeyFrameRecords.concatenate([as_key_frame_records(part) for part in parts])
    return select_key_frames(records, names, filter_empty=filter_empty)


def build_clip_train_loader(cfg, records=None):
    """``build_detection_train_loader`` on DATASETS.TRAIN with :class:`ClipDatasetMapper`.

    Args:
        records: the training key frames when the caller has loaded them (to size the schedule);
            None loads them.
    """
    if records is None:
        records = get_clip_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    check_num_actions(cfg.MODEL.WOO.NUM_ACTIONS, records, cfg.DATASETS.TRAIN)
    return build_detection_train_loader(
        cfg,
        mapper=ClipDatasetMapper(cfg, is_train=True),
        dataset=records,
    )


def build_clip_test_loader(cfg, dataset_name: str):
    """``build_detection_test_loader`` on one split, one clip per batch, sharded across processes."""
    records = get_clip_dataset_dicts([dataset_name])
    check_num_actions(cfg.MODEL.WOO.NUM_ACTIONS, records, [dataset_name])
    return build_detection_test_loader(
        dataset=records,
        mapper=ClipDatasetMapper(cfg, is_train=False),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
