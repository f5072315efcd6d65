"""Action detections drawn with detectron2's ``Visualizer``: boxes and top-k action names."""
from typing import Sequence

import numpy as np
from detectron2.structures import Instances
from detectron2.utils.visualizer import Visualizer

from woo.inference.render import action_labels as top_actions

__all__ = ["action_labels", "draw_action_instances"]


def action_labels(instances: Instances, action_names: Sequence[str], top_k: int = 3) -> list:
    """One label per box: "<actor score> <action> <prob>, ..." with the ``top_k`` most probable
    actions, worded as ``woo demo`` words them (:func:`woo.inference.render.action_labels`).

    Args:
        instances: with ``scores`` (M,) and ``pred_actions`` (M, C).
        action_names: C names (e.g. ``MetadataCatalog.get(split).action_classes``).
    """
    actions = instances.pred_actions.detach().float().cpu().numpy()
    if actions.shape[1] != len(action_names):
        raise ValueError(f"pred_actions has {actions.shape[1]} columns but {len(action_names)} action names were given")
    return [f"{score:.2f} " + ", ".join(top_actions(a, action_names, top_k, score_thresh=0.0))
            for score, a in zip(instances.scores.tolist(), actions)]


def draw_action_instances(frame: np.ndarray, instances: Instances, action_names: Sequence[str],
                          top_k: int = 3) -> np.ndarray:
    """Draw the model's ``Instances`` of one clip on its key frame.

    Args:
        frame: (H, W, 3) uint8 RGB key frame; boxes are rescaled from
            ``instances.image_size`` to (H, W).
        instances: ``pred_boxes``, ``scores`` (actor scores), ``pred_actions`` (M, C).
        action_names: names of the C action columns.
        top_k: actions named per box.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    h, w = frame.shape[:2]
    boxes = instances.pred_boxes.clone()
    boxes.scale(w / instances.image_size[1], h / instances.image_size[0])
    vis = Visualizer(frame)
    out = vis.overlay_instances(boxes=boxes.tensor.detach().cpu().numpy(),
                                labels=action_labels(instances, action_names, top_k))
    return out.get_image()
