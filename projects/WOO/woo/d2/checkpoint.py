"""detectron2's checkpointer with the atomic writes of ``woo train``."""
from detectron2.checkpoint import DetectionCheckpointer

from woo.runtime.checkpoint import AtomicSaveMixin

__all__ = ["AtomicDetectionCheckpointer"]


class AtomicDetectionCheckpointer(AtomicSaveMixin, DetectionCheckpointer):
    """``DetectionCheckpointer`` whose files appear whole or not at all (temp file + ``os.replace``)."""
