"""WOO configuration.

Two entry points:

* :func:`get_cfg` returns a stand-alone fvcore ``CfgNode`` with every key WOO
  reads. Keys that detectron2 also has keep detectron2's names and meanings,
  so one YAML file works in ``woo train`` and in ``projects/WOO/train_net.py``.
* :func:`add_woo_config` adds the keys detectron2 does not have. Call it on
  detectron2's ``get_cfg()`` before merging a WOO YAML file.

Merging a file or a list that names an unknown key raises a ``KeyError`` that
names the key (fvcore's behaviour, with the key spelt out in full).
"""
import os
from typing import List, Optional, Tuple

import yaml
from fvcore.common.config import CfgNode as _FvcoreCfgNode

__all__ = ["CfgNode", "get_cfg", "add_woo_config", "load_config", "configs_dir", "list_configs", "find_config_file",
           "settle_schedule_units", "check_epoch_keys"]

# The configs ship inside the package (setup.py links or copies the checkout's configs/ to woo/configs);
# a source checkout used without installing it has them at its root.
_PACKAGED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
_CHECKOUT_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "configs")


class CfgNode(_FvcoreCfgNode):
    """fvcore CfgNode that names the offending key when a merge fails."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        try:
            super().merge_from_file(cfg_filename, allow_unsafe=allow_unsafe)
        except KeyError as e:
            raise KeyError(f"{cfg_filename}: {e.args[0]}") from None

    def merge_from_list(self, cfg_list: list) -> None:
        if len(cfg_list) % 2 != 0:
            raise ValueError(
                f"config overrides must be KEY VALUE pairs, got an odd number: {cfg_list}"
            )
        for key in cfg_list[0::2]:
            node = self
            for part in key.split("."):
                if not isinstance(node, _FvcoreCfgNode) or part not in node:
                    raise KeyError(f"Non-existent config key: {key}")
                node = node[part]
        super().merge_from_list(cfg_list)


def _detectron2_compatible_keys() -> CfgNode:
    """The detectron2 default keys WOO reads, with WOO's defaults."""
    _C = CfgNode()
    _C.VERSION = 2

    _C.MODEL = CfgNode()
    # Which meta-architecture to build; "WOO" is the only one this package has.
    _C.MODEL.META_ARCHITECTURE = "WOO"
    # Device to run on: "cuda" or "cpu".
    _C.MODEL.DEVICE = "cuda"
    # Path or URL-free local path of a full-model checkpoint to load ("" for none).
    _C.MODEL.WEIGHTS = ""
    # Per-channel mean of input pixels in 0..255 RGB, subtracted before the backbone.
    _C.MODEL.PIXEL_MEAN = [114.75, 114.75, 114.75]
    # Per-channel std of input pixels in 0..255 RGB, divided after subtracting the mean.
    _C.MODEL.PIXEL_STD = [57.375, 57.375, 57.375]

    _C.MODEL.BACKBONE = CfgNode()
    # Name of the video backbone builder in woo's BACKBONE_REGISTRY (and detectron2's);
    # "build_video_resnet_fpn_backbone": video ResNet + key-frame FPN.
    _C.MODEL.BACKBONE.NAME = "build_video_resnet_fpn_backbone"
    # Freeze the stem (1) and stages res2..resN (N) at training; 0 trains everything.
    _C.MODEL.BACKBONE.FREEZE_AT = 0

    _C.MODEL.ROI_HEADS = CfgNode()
    # Name of the heads (actor head, action head, set criterion) in woo's ROI_HEADS_REGISTRY
    # (and detectron2's): "WOOROIHeads".
    _C.MODEL.ROI_HEADS.NAME = "WOOROIHeads"

    _C.MODEL.FPN = CfgNode()
    # Channels of every key-frame FPN level (and of the single level without FPN).
    _C.MODEL.FPN.OUT_CHANNELS = 256

    _C.INPUT = CfgNode()
    # Short side at training: (min, max) with "range" sampling, or choices with "choice".
    _C.INPUT.MIN_SIZE_TRAIN = (256, 320)
    # "range": short side uniform in [min, max]; "choice": one of MIN_SIZE_TRAIN.
    _C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "range"
    # Largest long side at training; the short side shrinks to keep it.
    _C.INPUT.MAX_SIZE_TRAIN = 1333
    # Short side at test time.
    _C.INPUT.MIN_SIZE_TEST = 256
    # Largest long side at test time.
    _C.INPUT.MAX_SIZE_TEST = 1333
    # Training flip: "horizontal" or "none".
    _C.INPUT.RANDOM_FLIP = "horizontal"
    # Channel order of the clips given to the model: "RGB", or "BGR" (detectron2's default);
    # MODEL.PIXEL_MEAN / PIXEL_STD are in this order. Kinetics checkpoints take RGB.
    _C.INPUT.FORMAT = "RGB"

    _C.DATASETS = CfgNode()
    # Names of the training splits (see woo.data.catalog), e.g. ("ava_v2.2_train",).
    _C.DATASETS.TRAIN = ()
    # Names of the evaluation splits, e.g. ("ava_v2.2_val",).
    _C.DATASETS.TEST = ()

    _C.DATALOADER = CfgNode()
    # Data-loading worker processes per training process.
    _C.DATALOADER.NUM_WORKERS = 4
    # Drop training key frames without any annotated actor.
    _C.DATALOADER.FILTER_EMPTY_ANNOTATIONS = False

    _C.SOLVER = CfgNode()
    # Learning-rate schedule: "WarmupMultiStepLR" (the paper's).
    _C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
    # Total training iterations; with SOLVER.MAX_EPOCHS > 0 it is computed from the data instead.
    _C.SOLVER.MAX_ITER = 40000
    # Base learning rate for a batch of IMS_PER_BATCH clips.
    _C.SOLVER.BASE_LR = 2.5e-5
    # AdamW weight decay.
    _C.SOLVER.WEIGHT_DECAY = 1e-4
    # AdamW weight decay of normalization layers' weights and biases.
    _C.SOLVER.WEIGHT_DECAY_NORM = 1e-4
    # LR multiplier applied at each of STEPS.
    _C.SOLVER.GAMMA = 0.1
    # Iterations at which the LR is multiplied by GAMMA; with SOLVER.STEPS_EPOCHS set it is computed instead.
    _C.SOLVER.STEPS = (30000,)
    # LR factor at iteration 0 of the warm-up.
    _C.SOLVER.WARMUP_FACTOR = 1e-3
    # Iterations of warm-up.
    _C.SOLVER.WARMUP_ITERS = 1000
    # Warm-up shape: "linear" or "constant".
    _C.SOLVER.WARMUP_METHOD = "linear"
    # Save a checkpoint every this many iterations (and at the end).
    _C.SOLVER.CHECKPOINT_PERIOD = 5000
    # Clips per batch over all processes.
    _C.SOLVER.IMS_PER_BATCH = 16
    # Number of processes IMS_PER_BATCH, BASE_LR and the iteration keys are meant for (0: off). On another
    # number of processes the batch and LR scale linearly and iterations inversely, as detectron2's
    # DefaultTrainer.auto_scale_workers does; a schedule in epochs stays as many epochs.
    _C.SOLVER.REFERENCE_WORLD_SIZE = 0
    _C.SOLVER.CLIP_GRADIENTS = CfgNode()
    # Clip gradients before each optimizer step.
    _C.SOLVER.CLIP_GRADIENTS.ENABLED = True
    # "full_model" (one norm over all parameters), "norm" (per parameter) or "value".
    _C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    # Largest gradient norm (or absolute value with CLIP_TYPE "value").
    _C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
    # Norm order for "full_model" and "norm".
    _C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
    _C.SOLVER.AMP = CfgNode()
    # Mixed precision (autocast + GradScaler); used on CUDA only.
    _C.SOLVER.AMP.ENABLED = False

    _C.TEST = CfgNode()
    # Evaluate every this many iterations during training (0: only at the end).
    _C.TEST.EVAL_PERIOD = 0
    # Most actors kept per clip at inference.
    _C.TEST.DETECTIONS_PER_IMAGE = 100

    # Where logs, checkpoints, metrics and detections are written.
    _C.OUTPUT_DIR = "./output"
    # Global random seed; negative picks one from the clock.
    _C.SEED = -1
    return _C


def add_woo_config(cfg: _FvcoreCfgNode) -> None:
    """Add the WOO keys that detectron2's defaults lack to ``cfg`` (in place).

    Works on :func:`get_cfg`'s base and on ``detectron2.config.get_cfg()``.
    """
    _C = cfg
    CN = type(cfg)

    _C.MODEL.VIDEO_RESNET = CN()
    # "slowfast" (two pathways) or "slow" (SlowOnly, one pathway).
    _C.MODEL.VIDEO_RESNET.ARCH = "slowfast"
    # 50 or 101 picks the standard stage depths; 0 uses STAGE_DEPTHS.
    _C.MODEL.VIDEO_RESNET.DEPTH = 50
    # Bottleneck blocks in res2..res5 when DEPTH is 0 (tiny models).
    _C.MODEL.VIDEO_RESNET.STAGE_DEPTHS = [3, 4, 6, 3]
    # Output channels of the slow stem; stage widths scale from it (x4, x8, x16, x32).
    _C.MODEL.VIDEO_RESNET.STEM_CHANNELS = 64
    # Frame-rate ratio between fast and slow pathways (SlowFast alpha).
    _C.MODEL.VIDEO_RESNET.ALPHA = 4
    # Channel ratio between slow and fast pathways (SlowFast 1/beta).
    _C.MODEL.VIDEO_RESNET.BETA_INV = 8
    # Channel ratio of the fast-to-slow lateral fusion convolution.
    _C.MODEL.VIDEO_RESNET.FUSION_CONV_CHANNEL_RATIO = 2
    # Temporal kernel of the fast-to-slow lateral fusion convolution.
    _C.MODEL.VIDEO_RESNET.FUSION_KERNEL_SIZE = 7
    # Spatial dilation of res5; 1 keeps stride 32 (WOO), 2 gives stride 16 (no-FPN ablation).
    _C.MODEL.VIDEO_RESNET.RES5_DILATION = 1
    # Local path of a Kinetics checkpoint (pytorchvideo or PySlowFast format) for the backbone.
    _C.MODEL.VIDEO_RESNET.PRETRAINED = ""
    # Normalization of the backbone: "BN", "FrozenBN" (fixed statistics and affine) or "SyncBN".
    _C.MODEL.VIDEO_RESNET.NORM = "BN"

    _C.MODEL.WOO = CN()
    # Number of action classes (AVA: 80; evaluation keeps the label map's 60).
    _C.MODEL.WOO.NUM_ACTIONS = 80
    # Learnable proposal boxes and features per clip.
    _C.MODEL.WOO.NUM_PROPOSALS = 100
    # Width of proposal features, action embeddings and attention.
    _C.MODEL.WOO.HIDDEN_DIM = 256
    # Hidden width of the feed-forward networks.
    _C.MODEL.WOO.DIM_FEEDFORWARD = 2048
    # Attention heads in every multi-head attention.
    _C.MODEL.WOO.NUM_HEADS = 8
    # Dropout in attention and feed-forward blocks.
    _C.MODEL.WOO.DROPOUT = 0.0
    # Iterative stages of the actor localization head.
    _C.MODEL.WOO.NUM_STAGES = 6
    # Width of the dynamic 1x1 layers of instance interaction.
    _C.MODEL.WOO.DIM_DYNAMIC = 64
    # Number of dynamic 1x1 layers in instance interaction.
    _C.MODEL.WOO.NUM_DYNAMIC = 2
    # RoIAlign output size of the actor localization head.
    _C.MODEL.WOO.POOLER_RESOLUTION = 7
    # True: key-frame FPN on res2..res5 (WOO); False: single level on res5 (ablation).
    _C.MODEL.WOO.USE_FPN = True
    # RoIAlign output size S of the spatial action features.
    _C.MODEL.WOO.ACTION_POOLER_RESOLUTION = 7
    # Spatial-temporal fusion of the action head: "cross_attention", "sum" or "concat".
    _C.MODEL.WOO.ACTION_FUSION = "cross_attention"
    # Loss weight of actor/no-actor cross entropy.
    _C.MODEL.WOO.CLASS_WEIGHT = 2.0
    # Loss weight of L1 on normalized boxes.
    _C.MODEL.WOO.L1_WEIGHT = 5.0
    # Loss weight of generalized IoU.
    _C.MODEL.WOO.GIOU_WEIGHT = 2.0
    # Loss weight of action binary cross entropy.
    _C.MODEL.WOO.ACTION_WEIGHT = 4.0
    # Relative weight of the no-actor class in the actor cross entropy.
    _C.MODEL.WOO.NO_ACTOR_WEIGHT = 0.1
    # Boxes the action head pools in training: "predicted" (the actor head's final boxes, as
    # the paper) or "ground_truth" (each matched proposal's ground-truth box, as two-stage
    # detectors train theirs; unmatched proposals keep their predicted boxes). Inference always
    # pools the predicted boxes.
    _C.MODEL.WOO.ACTION_TRAIN_BOXES = "predicted"
    # Auxiliary losses on every stage of the actor head (deep supervision).
    _C.MODEL.WOO.DEEP_SUPERVISION = True
    # Keep actors whose actor score is above this at inference.
    _C.MODEL.WOO.SCORE_THRESH_TEST = 0.7
    # Keep at least this many top-scoring actors per clip at inference, whatever their score
    # (3 as STMixer; measured in README "Detection scores and key frames without a box").
    _C.MODEL.WOO.MIN_DETECTIONS_PER_CLIP = 3
    # Score of a (box, action) detection: "action" (action probability alone) or
    # "actor_x_action" (action probability times actor score; measured better, see README).
    _C.MODEL.WOO.ACTION_SCORE = "actor_x_action"
    # Action loss: "bce" (multi-label, sigmoid; AVA) or "ce" (one label per actor, softmax; JHMDB, UCF).
    _C.MODEL.WOO.ACTION_LOSS = "bce"

    _C.MODEL.INFERENCE = CN()
    # Arithmetic at inference: "fp32", "bf16" (CUDA or CPU autocast) or "fp16" (CUDA autocast).
    _C.MODEL.INFERENCE.PRECISION = "fp32"
    # Compile the model with torch.compile for inference.
    _C.MODEL.INFERENCE.COMPILE = False
    # Inference modes of the "speed" work (woo.runtime.inference_modes), applied to a copy of the model.
    # Fold each BatchNorm into the convolution before it (exact up to float rounding).
    _C.MODEL.INFERENCE.FOLD_BN = True
    # Channels-last 3-D memory format for conv weights and the input clip: "on", "off" or
    # "auto" (on for bf16/fp16, where it is faster; off for fp32, where it was slower on CPU).
    _C.MODEL.INFERENCE.CHANNELS_LAST = "auto"
    # Arithmetic of the ROI heads (actor and action heads) when PRECISION is bf16/fp16:
    # "fp32" (autocast off in the heads; their weights stay fp32) or "same" (as PRECISION).
    _C.MODEL.INFERENCE.HEADS_PRECISION = "fp32"

    # Frames sampled per clip for the fastest pathway (SlowOnly: T; SlowFast: T * ALPHA).
    _C.INPUT.NUM_FRAMES = 32
    # Stride in video frames between sampled frames.
    _C.INPUT.SAMPLING_RATE = 2
    # Ablation: every frame of a clip is the key frame (no motion); True at train and test.
    _C.INPUT.KEY_FRAME_ONLY = False

    # Training length in epochs of the training key frames (after DATALOADER.FILTER_EMPTY_ANNOTATIONS);
    # 0: off, SOLVER.MAX_ITER is used. When > 0, MAX_ITER = round(MAX_EPOCHS * key frames / IMS_PER_BATCH).
    _C.SOLVER.MAX_EPOCHS = 0
    # Epochs (may be fractional) at which the LR is multiplied by GAMMA; (): off, SOLVER.STEPS is used.
    _C.SOLVER.STEPS_EPOCHS = ()
    # Optimizer: "ADAMW" (the paper's).
    _C.SOLVER.OPTIMIZER = "ADAMW"
    # LR multiplier for backbone parameters.
    _C.SOLVER.BACKBONE_MULTIPLIER = 1.0
    # Periodic checkpoints kept on disk, newest first; 0 keeps all.
    _C.SOLVER.CHECKPOINT_MAX_TO_KEEP = 0

    # Log training scalars (console, metrics, TensorBoard) every this many iterations.
    _C.SOLVER.LOG_PERIOD = 20


def get_cfg() -> CfgNode:
    """A fresh copy of WOO's default configuration."""
    cfg = _detectron2_compatible_keys()
    add_woo_config(cfg)
    return cfg


def configs_dir() -> str:
    """The folder of WOO's shipped configs (``configs/`` of the source tree).

    Raises:
        FileNotFoundError: neither the installed package nor a source checkout has them.
    """
    for folder in (_PACKAGED_CONFIGS, _CHECKOUT_CONFIGS):
        if os.path.isdir(folder):
            return os.path.abspath(folder)
    raise FileNotFoundError(f"WOO's configs are missing from {_PACKAGED_CONFIGS}: reinstall woo (pip install .)")


def list_configs() -> List[str]:
    """Shipped config names, relative to ``configs/`` (e.g. "AVA-v2.2/WOO_SlowFast_R50_8x8.yaml");
    the ``Base-*`` files that others build on are left out."""
    root = configs_dir()
    names = []
    for folder, _, files in os.walk(root):
        names += [os.path.relpath(os.path.join(folder, f), root) for f in files
                  if f.endswith(".yaml") and not f.startswith("Base-")]
    return sorted(names)


def find_config_file(config_file: str) -> str:
    """``config_file`` if it is a file; else the shipped config of that name, given relative to
    ``configs/`` or with it ("Synthetic/WOO_Tiny.yaml", "configs/Synthetic/WOO_Tiny.yaml"), from any folder.

    Raises:
        FileNotFoundError: naming ``config_file`` (and listing the shipped configs).
    """
    if os.path.isfile(config_file):
        return config_file
    name = os.path.normpath(config_file)
    if not os.path.isabs(name):
        name = name[len("configs" + os.sep):] if name.startswith("configs" + os.sep) else name
        shipped = os.path.join(configs_dir(), name)
        if name.endswith(".yaml") and os.path.isfile(shipped):
            return shipped
    raise FileNotFoundError(f"config file not found: {config_file} (nor among WOO's configs: "
                            f"{', '.join(list_configs())})")


def load_config(config_file: str, opts: Optional[List[str]] = None) -> CfgNode:
    """WOO defaults, merged with ``config_file`` and then ``opts`` (KEY VALUE pairs).

    Args:
        config_file: a YAML file, or the name of a shipped config (see :func:`find_config_file`).

    Raises:
        FileNotFoundError: ``config_file`` does not exist.
        KeyError: the file or ``opts`` name a key WOO does not have.
        ValueError: ``opts`` is not a list of pairs.
    """
    cfg = get_cfg()
    if config_file:
        config_file = find_config_file(config_file)
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts or []))
    settle_schedule_units(cfg, config_file, opts)
    return cfg


# Each schedule key in iterations, the key that gives the same in epochs, and that key's "off" value.
_ITERATION_AND_EPOCH_KEYS = (("MAX_ITER", "MAX_EPOCHS", "0"), ("STEPS", "STEPS_EPOCHS", "()"))


def _solver_layers(config_file: str) -> List[Tuple[str, dict]]:
    """``(file, its SOLVER mapping)`` of ``config_file`` and its ``_BASE_`` files, the deepest base first."""
    with open(config_file) as f:
        data = yaml.safe_load(f) or {}
    bases = data.get("_BASE_") or []
    layers = []
    for base in [bases] if isinstance(bases, str) else bases:
        base = os.path.expanduser(base)
        layers += _solver_layers(base if os.path.isabs(base) else os.path.join(os.path.dirname(config_file), base))
    return layers + [(config_file, data.get("SOLVER") or {})]


def settle_schedule_units(cfg, config_file: str, opts: Optional[List[str]]) -> None:
    """Decide, in place, whether the training length and the LR steps are in iterations or in epochs.

    ``SOLVER.MAX_EPOCHS`` > 0 gives the length in epochs and ``SOLVER.STEPS_EPOCHS`` the LR
    steps (``woo.engine.schedule.resolve_schedule`` turns them into ``MAX_ITER`` / ``STEPS``
    once the training key frames are counted); 0 and () are off. Each pair of keys follows the
    order of the sources, base file, the file that names it in ``_BASE_``, then the command line:

    * the source that names a pair last decides its unit: ``SOLVER.MAX_ITER 20`` on the command
      line (detectron2's smoke run) turns a file's ``MAX_EPOCHS`` off, and keeps the file's LR
      steps (past iteration 20 they are dropped with a warning); a file that sets ``MAX_EPOCHS``
      over a base in iterations is in epochs;
    * one source that sets both keys of a pair, with the epoch key on, is an error naming both
      (a ``config.yaml`` written by a run holds every key, with the epoch keys off: it loads).

    Args:
        cfg: the merged config (WOO's or detectron2's ``CfgNode``), changed in place.
        config_file: the file merged into it ("" for none).
        opts: the command-line ``KEY VALUE`` list merged after it.

    Raises:
        ValueError: naming the file (or the command line) and both keys.
    """
    opts = list(opts or [])
    command_line = {key.split(".", 1)[1]: value for key, value in zip(opts[0::2], opts[1::2])
                    if key.startswith("SOLVER.")}
    layers = (_solver_layers(config_file) if config_file else []) + [("the command line", command_line)]
    for iter_key, epoch_key, off in _ITERATION_AND_EPOCH_KEYS:
        last_iter = last_epoch = -1
        for depth, (source, solver) in enumerate(layers):
            if iter_key in solver and epoch_key in solver and _on(solver[epoch_key]):
                raise ValueError(
                    f"{source} sets both SOLVER.{iter_key} ({solver[iter_key]}) and SOLVER.{epoch_key} "
                    f"({solver[epoch_key]}): give one of them (SOLVER.{epoch_key} {off} turns epochs off)"
                )
            last_iter = depth if iter_key in solver else last_iter
            last_epoch = depth if epoch_key in solver else last_epoch
        if last_iter > last_epoch:
            cfg.SOLVER[epoch_key] = type(cfg.SOLVER[epoch_key])()  # 0 or (): off
    check_epoch_keys(cfg)


def check_epoch_keys(cfg) -> None:
    """``SOLVER.MAX_EPOCHS`` >= 0 and ``SOLVER.STEPS_EPOCHS`` increasing positive epochs (ValueError naming the key)."""
    if cfg.SOLVER.MAX_EPOCHS < 0:
        raise ValueError(f"SOLVER.MAX_EPOCHS must be >= 0 (0: the length is SOLVER.MAX_ITER), got {cfg.SOLVER.MAX_EPOCHS}")
    steps = list(cfg.SOLVER.STEPS_EPOCHS)
    if any(e <= 0 for e in steps) or steps != sorted(set(steps)):
        raise ValueError(f"SOLVER.STEPS_EPOCHS must be increasing positive epochs, got {tuple(steps)}")


def _on(value) -> bool:
    """An epoch key's value as written (a number, a list, or the command line's text) is not off."""
    if isinstance(value, str):
        value = value.strip().strip("()[], ")
        return value not in ("", "0", "0.0")
    return bool(value)
