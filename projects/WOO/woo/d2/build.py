"""detectron2 data loaders over WOO's key-frame records.

detectron2 pickles every dataset dict by default; WOO's records of one video
share a single list of its frame paths (tens of thousands on AVA), so here the
records are kept as they are.
"""
from typing import Dict, List, Sequence

from detectron2.data import (
    DatasetFromList,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)

from woo.data.build import select_key_frames

from .mapper import ClipDatasetMapper

__all__ = ["get_clip_dataset_dicts", "build_clip_train_loader", "build_clip_test_loader"]


def get_clip_dataset_dicts(names: Sequence[str], *, filter_empty: bool = False) -> List[Dict]:
    """Records of the DatasetCatalog splits ``names``, optionally without key frames that have no actor."""
    records = get_detection_dataset_dicts(list(names), filter_empty=False)
    return select_key_frames(records, names, filter_empty=filter_empty)


def build_clip_train_loader(cfg, records=None):
    """``build_detection_train_loader`` on DATASETS.TRAIN with :class:`ClipDatasetMapper`.

    Args:
        records: the training key frames when the caller has loaded them (to size the schedule);
            None loads them.
    """
    if records is None:
        records = get_clip_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    return build_detection_train_loader(
        cfg,
        mapper=ClipDatasetMapper(cfg, is_train=True),
        dataset=DatasetFromList(records, copy=False, serialize=False),
    )


def build_clip_test_loader(cfg, dataset_name: str):
    """``build_detection_test_loader`` on one split, one clip per batch, sharded across processes."""
    records = get_clip_dataset_dicts([dataset_name])
    return build_detection_test_loader(
        dataset=DatasetFromList(records, copy=False, serialize=False),
        mapper=ClipDatasetMapper(cfg, is_train=False),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
