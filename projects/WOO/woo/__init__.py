"""WOO: Watch Only Once, end-to-end video action detection.

Importing ``woo`` never imports detectron2; the detectron2 binding lives in
``woo.d2`` and is imported explicitly. ``woo.VideoPredictor`` is imported on
first use, so ``import woo`` stays light.
"""
__version__ = "0.1.0"

__all__ = ["VideoPredictor"]


def __getattr__(name):
    if name == "VideoPredictor":
        from woo.inference.predictor import VideoPredictor

        return VideoPredictor
    raise AttributeError(f"module 'woo' has no attribute {name!r}")
