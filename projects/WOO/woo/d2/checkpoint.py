"""detectron2's checkpointer with the atomic writes of ``woo train``, and its handling of weights
trained on other action classes."""
from detectron2.checkpoint import DetectionCheckpointer

from woo.runtime.checkpoint import AtomicSaveMixin, NewClassesMixin

__all__ = ["AtomicDetectionCheckpointer"]


class AtomicDetectionCheckpointer(NewClassesMixin, AtomicSaveMixin, DetectionCheckpointer):
    """``DetectionCheckpointer`` whose files appear whole or not at all (temp file + ``os.replace``);
    an action classifier of other classes is dropped, as ``woo train`` drops it."""
