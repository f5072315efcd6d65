"""detectron2 config with WOO's keys and defaults."""
from detectron2.config import CfgNode
from detectron2.config import get_cfg as get_detectron2_cfg

from woo.config import add_woo_config
from woo.config import get_cfg as get_woo_cfg

__all__ = ["get_cfg"]


def get_cfg() -> CfgNode:
    """detectron2's defaults + :func:`woo.config.add_woo_config`, with WOO's default values.

    Keys both packages have take WOO's defaults (e.g. ``INPUT.FORMAT`` "RGB",
    ``DATALOADER.FILTER_EMPTY_ANNOTATIONS`` False), so a WOO YAML file means the
    same run here as in ``woo train``; keys only detectron2 has keep its defaults.
    """
    cfg = get_detectron2_cfg()
    add_woo_config(cfg)
    cfg.merge_from_other_cfg(get_woo_cfg())
    return cfg
