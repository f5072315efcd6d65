"""Running trained models on videos: :class:`VideoPredictor`, video reading, clip sampling,
tracking, rendering, the demo pipeline and export."""
from .live_schedule import SkippedKeyFrame
from .predictor import KeyFramePrediction, VideoPredictor

__all__ = ["VideoPredictor", "KeyFramePrediction", "SkippedKeyFrame"]
