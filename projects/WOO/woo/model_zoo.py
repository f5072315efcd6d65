"""WOO's model zoo, as ``detectron2.model_zoo``: configs by their path under ``configs/``,
trained checkpoints from a local cache. Nothing is downloaded.

The cache is ``$WOO_MODEL_ZOO`` (default ``~/.cache/woo/model_zoo``); the
checkpoint of ``configs/<dir>/<name>.yaml`` is ``$WOO_MODEL_ZOO/<dir>/<name>/model_final.pth``,
the ``model_final.pth`` that ``woo train`` (or ``train_net.py``) writes for that config.
MODEL_ZOO.md lists the configs, their measured cost and which checkpoints exist.
"""
import os
from typing import Optional

import torch
from torch import nn

from woo.config import CfgNode, configs_dir, list_configs, load_config
from woo.modeling import build_model
from woo.runtime.checkpoint import WooCheckpointer

__all__ = ["get_config_file", "get_config", "get", "get_checkpoint_path", "list_configs"]


def get_config_file(config_path: str) -> str:
    """Absolute path of the shipped config ``configs/<config_path>`` (inside the installed package).

    Raises:
        RuntimeError: no such config (the message lists those there are).
    """
    path = os.path.join(configs_dir(), config_path)
    if not config_path.endswith(".yaml") or not os.path.isfile(path):
        raise RuntimeError(f"{config_path} not available in WOO's model zoo ({configs_dir()}); "
                           f"configs: {', '.join(list_configs())}")
    return path


def get_checkpoint_path(config_path: str) -> str:
    """Local path of the trained checkpoint of ``config_path``.

    Raises:
        RuntimeError: the checkpoint is not in ``$WOO_MODEL_ZOO``; says where it comes from.
    """
    get_config_file(config_path)
    root = os.path.expanduser(os.environ.get("WOO_MODEL_ZOO", "~/.cache/woo/model_zoo"))
    path = os.path.join(root, config_path[: -len(".yaml")], "model_final.pth")
    if not os.path.isfile(path):
        raise RuntimeError(
            f"no trained checkpoint for {config_path}: expected {path} ($WOO_MODEL_ZOO={root}). "
            f"It is the OUTPUT_DIR/model_final.pth of `woo train --config-file configs/{config_path}`; "
            "WOO downloads nothing, and MODEL_ZOO.md says which checkpoints have been trained"
        )
    return path


def get_config(config_path: str, trained: bool = False) -> CfgNode:
    """WOO's config of ``configs/<config_path>``.

    Args:
        trained: set ``MODEL.WEIGHTS`` to the cached checkpoint (and skip the Kinetics init).
    """
    cfg = load_config(get_config_file(config_path))
    if trained:
        cfg.MODEL.WEIGHTS = get_checkpoint_path(config_path)
        cfg.MODEL.VIDEO_RESNET.PRETRAINED = ""
    return cfg


def get(config_path: str, trained: bool = False, device: Optional[str] = None) -> nn.Module:
    """The model of ``configs/<config_path>`` in eval mode (``woo.modeling.WOO``, no detectron2).

    Args:
        trained: load the cached checkpoint (see :func:`get_checkpoint_path`);
            otherwise the weights are the fresh initialization.
        device: "cpu", "cuda", ...; by default "cuda" when available.
    """
    cfg = get_config(config_path, trained=trained)
    cfg.MODEL.DEVICE = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(cfg)
    if trained:
        WooCheckpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return model.eval()
