"""WOO's dataset splits in detectron2's DatasetCatalog and MetadataCatalog.

Every split of :mod:`woo.data.catalog` is registered at import; one registered later with
``woo.data.register_dataset``, and a prepared set's ``PATH/dataset.yaml:SPLIT``, are registered
when a loader first names them (:func:`register_woo_datasets`). Registering reads no file:
records load when ``DatasetCatalog.get`` is called, and the metadata resolves its paths
(generating the synthetic set if it is missing) and reads the label map on first access.
"""
import functools
from typing import Iterable, List, Optional

from detectron2.data import DatasetCatalog, Metadata, MetadataCatalog

from woo.data.catalog import AVASplit, class_names, evaluator_type, get_split, list_splits, load_dataset_dicts

from .tube_datasets import TubeMetadata

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


def register_woo_datasets(names: Iterable[str] = ()) -> None:
    """Register every split of :func:`woo.data.catalog.list_splits`, and ``names`` that the catalog
    knows (a prepared set's ``PATH/dataset.yaml:SPLIT``), that are not registered yet; a name
    the catalog does not know is left to detectron2 (a split its user registered there)."""
    registered = set(DatasetCatalog.list())
    for name in dict.fromkeys([*list_splits(), *names]):
        if name in registered:
            continue
        try:
            kind = evaluator_type(name)
        except KeyError:
            continue
        DatasetCatalog.register(name, functools.partial(load_dataset_dicts, name))
        if kind == "tube":
            MetadataCatalog[name] = TubeMetadata(name=name, evaluator_type="tube")
        else:
            MetadataCatalog[name] = AVAMetadata(name=name, evaluator_type="ava")


register_woo_datasets()
