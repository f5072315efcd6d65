"""detectron2 metadata of the JHMDB-21 / UCF101-24-layout splits (registered by :mod:`woo.d2.datasets`)."""
import functools
from typing import List

from detectron2.data import Metadata

from woo.data.catalog import get_split

__all__ = ["TubeMetadata"]


class TubeMetadata(Metadata):
    """Metadata of a JHMDB-21 / UCF101-24-layout split, resolved lazily.

    Attributes:
        evaluator_type: "tube" (frame-mAP and video-mAP, ``woo.d2.tube_evaluator.TubeEvaluator``).
        groundtruth: the ACT ground-truth pickle.
        action_classes: the pickle's labels; ``num_actions``: their number.
    """

    @property
    def groundtruth(self) -> str:
        return get_split(self.name).groundtruth

    @functools.cached_property
    def action_classes(self) -> List[str]:
        return list(get_split(self.name).read_groundtruth().labels)

    @property
    def num_actions(self) -> int:
        return len(self.action_classes)
