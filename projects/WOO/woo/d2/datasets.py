"""WOO's dataset splits in detectron2's DatasetCatalog and MetadataCatalog.

Registering reads no file: records load when ``DatasetCatalog.get`` is
called, and the metadata resolves its paths (generating the synthetic set if
it is missing) and reads the label map on first access.
"""
import functools
from typing import List, Optional

from detectron2.data import DatasetCatalog, Metadata, MetadataCatalog

from woo.data.catalog import AVASplit, class_names, get_split, list_splits, load_dataset_dicts

from .tube_datasets import TubeMetadata, tube_split_names

__all__ = ["AVAMetadata", "register_woo_datasets"]


class AVAMetadata(Metadata):
    """Metadata of a :mod:`woo.data.catalog` split, resolved lazily.

    Attributes:
        evaluator_type: "ava".
        num_actions: width of the action vectors.
        action_classes: names of the action columns (column j is action id j + 1).
        label_map: training label map (pbtxt).
        eval_label_map: label map whose ids are evaluated (pbtxt).
        groundtruth_csv: ground-truth boxes and actions (AVA CSV).
        exclusions: excluded key frames (CSV), or None.
    """

    @property
    def split(self) -> AVASplit:
        return get_split(self.name)

    @property
    def num_actions(self) -> int:
        return self.split.num_actions

    @property
    def label_map(self) -> str:
        return self.split.label_map

    @property
    def eval_label_map(self) -> str:
        return self.split.eval_label_map

    @property
    def groundtruth_csv(self) -> str:
        return self.split.annotations

    @property
    def exclusions(self) -> Optional[str]:
        return self.split.exclusions

    @functools.cached_property
    def action_classes(self) -> List[str]:
        return class_names(self.name, self.num_actions)


def register_woo_datasets() -> None:
    """Register every split of :func:`woo.data.catalog.list_splits` that is not registered yet."""
    tube_splits = tube_split_names()
    for name in list_splits():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, functools.partial(load_dataset_dicts, name))
        if name in tube_splits:
            MetadataCatalog[name] = TubeMetadata(name=name, evaluator_type="tube")
        else:
            MetadataCatalog[name] = AVAMetadata(name=name, evaluator_type="ava")


register_woo_datasets()
