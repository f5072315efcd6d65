"""Running trained models: inference modes (precision, layout) and, on top, predictors."""
from .optimize import PRECISIONS, autocast_context, optimize_for_inference

__all__ = ["PRECISIONS", "autocast_context", "optimize_for_inference"]
