"""The training schedule: epochs turned into iterations, and a recipe moved to another number of GPUs.

Both engines (``woo train`` and ``projects/WOO/train_net.py``) build it the same way, once, before
the optimizer's LR schedule exists:

1. ``SOLVER.REFERENCE_WORLD_SIZE`` > 0 and another number of processes: the batch and the LR
   scale linearly and the iteration keys inversely (:func:`scale_to_world_size` here,
   detectron2's own ``DefaultTrainer.auto_scale_workers`` in ``train_net.py``: the same arithmetic);
2. ``SOLVER.MAX_EPOCHS`` / ``SOLVER.STEPS_EPOCHS``: :func:`resolve_schedule` counts the training
   key frames loaded (after ``DATALOADER.FILTER_EMPTY_ANNOTATIONS``) and sets ``MAX_ITER`` /
   ``STEPS`` for the (scaled) global batch, so a schedule in epochs stays as many epochs on any
   number of GPUs.

Which keys win when a schedule is given both ways is :func:`woo.config.settle_schedule_units`'s rule.
"""
import logging
import math
from typing import Sequence, Tuple

from woo.config import check_epoch_keys

__all__ = ["scale_to_world_size", "epochs_to_iterations", "resolve_schedule"]

logger = logging.getLogger(__name__)


def scale_to_world_size(cfg, world_size: int):
    """``cfg`` moved from ``SOLVER.REFERENCE_WORLD_SIZE`` processes to ``world_size`` ones.

    The arithmetic of detectron2's ``DefaultTrainer.auto_scale_workers``: with ``scale =
    world_size / REFERENCE_WORLD_SIZE``, ``IMS_PER_BATCH`` and ``BASE_LR`` are multiplied by
    ``scale`` (clips per process and the LR per clip stay), ``MAX_ITER``, ``STEPS``,
    ``WARMUP_ITERS``, ``CHECKPOINT_PERIOD`` and ``TEST.EVAL_PERIOD`` divided by it (the same
    number of clips), and ``REFERENCE_WORLD_SIZE`` becomes ``world_size``, so scaling twice
    changes nothing. Epoch keys are left alone: :func:`resolve_schedule` reads the scaled batch.

    Returns:
        ``cfg`` itself when ``REFERENCE_WORLD_SIZE`` is 0 or ``world_size``; else a scaled copy
        (frozen if ``cfg`` was).

    Raises:
        ValueError: ``IMS_PER_BATCH`` not divisible by ``REFERENCE_WORLD_SIZE``, or a negative one.
    """
    s = cfg.SOLVER
    reference = s.REFERENCE_WORLD_SIZE
    if reference < 0:
        raise ValueError(f"SOLVER.REFERENCE_WORLD_SIZE must be >= 0 (0: off), got {reference}")
    if reference in (0, world_size):
        return cfg
    if s.IMS_PER_BATCH % reference:
        raise ValueError(f"SOLVER.IMS_PER_BATCH {s.IMS_PER_BATCH} is not divisible by "
                         f"SOLVER.REFERENCE_WORLD_SIZE {reference}")
    cfg = cfg.clone()
    frozen = cfg.is_frozen()
    cfg.defrost()
    s = cfg.SOLVER
    scale = world_size / reference
    s.IMS_PER_BATCH = int(round(s.IMS_PER_BATCH * scale))
    s.BASE_LR = s.BASE_LR * scale
    s.MAX_ITER = int(round(s.MAX_ITER / scale))
    s.WARMUP_ITERS = int(round(s.WARMUP_ITERS / scale))
    s.STEPS = tuple(int(round(step / scale)) for step in s.STEPS)
    cfg.TEST.EVAL_PERIOD = int(round(cfg.TEST.EVAL_PERIOD / scale))
    s.CHECKPOINT_PERIOD = int(round(s.CHECKPOINT_PERIOD / scale))
    s.REFERENCE_WORLD_SIZE = world_size
    logger.info(
        f"SOLVER.REFERENCE_WORLD_SIZE {reference} -> {world_size} processes: batch {s.IMS_PER_BATCH} "
        f"({s.IMS_PER_BATCH // world_size} per process), BASE_LR {s.BASE_LR:g}, warm-up {s.WARMUP_ITERS} "
        f"iterations, checkpoint every {s.CHECKPOINT_PERIOD}, evaluation every {cfg.TEST.EVAL_PERIOD}"
    )
    if frozen:
        cfg.freeze()
    return cfg


def epochs_to_iterations(epochs: float, num_key_frames: int, batch_size: int) -> int:
    """Iterations of ``batch_size`` clips that see ``epochs`` times ``num_key_frames`` clips, rounded half up."""
    return int(math.floor(epochs * num_key_frames / batch_size + 0.5))


def _epoch_steps(step_epochs: Sequence[float], num_key_frames: int, batch_size: int) -> Tuple[int, ...]:
    steps = tuple(epochs_to_iterations(e, num_key_frames, batch_size) for e in step_epochs)
    if steps[0] < 1 or len(set(steps)) != len(steps):
        raise ValueError(
            f"SOLVER.STEPS_EPOCHS {tuple(step_epochs)} falls on iterations {steps} with {num_key_frames} key "
            f"frames at batch {batch_size}: LR steps must be distinct iterations >= 1"
        )
    return steps


def _listed(values) -> str:
    return ", ".join(f"{v:g}" for v in values) if values else "none"


def resolve_schedule(cfg, num_key_frames: int):
    """``cfg`` with ``SOLVER.MAX_ITER`` / ``SOLVER.STEPS`` computed from epochs, logged once.

    ``MAX_EPOCHS`` > 0 sets ``MAX_ITER`` to ``round(MAX_EPOCHS * num_key_frames /
    IMS_PER_BATCH)``; a non-empty ``STEPS_EPOCHS`` sets ``STEPS`` the same way. The keys used
    are then set off (``MAX_EPOCHS`` 0, ``STEPS_EPOCHS`` ()), so the result is a schedule in
    iterations: resolving it again changes nothing, and the ``config.yaml`` a run writes gives
    the same schedule when loaded again. ``WARMUP_ITERS`` stays in iterations. The log line
    reads e.g. "12 epochs of 184804 key frames at batch 16 = 138603 iterations, LR steps at
    epochs 6, 10 = iterations 69302, 115503"; a schedule in iterations is logged in epochs too.

    Args:
        cfg: a config whose ``SOLVER.IMS_PER_BATCH`` is the global batch of this run (after
            :func:`scale_to_world_size`).
        num_key_frames: training key frames loaded (the records the training loader samples).

    Returns:
        a copy of ``cfg`` (frozen if ``cfg`` was).

    Raises:
        ValueError: no key frame, a negative ``MAX_EPOCHS``, or ``STEPS_EPOCHS`` that are not
            increasing positive epochs, naming the key.
    """
    s = cfg.SOLVER
    if num_key_frames <= 0:
        raise ValueError(f"datasets {list(cfg.DATASETS.TRAIN)} have no training key frame")
    check_epoch_keys(cfg)
    batch = s.IMS_PER_BATCH
    step_epochs = tuple(s.STEPS_EPOCHS)
    cfg = cfg.clone()
    frozen = cfg.is_frozen()
    cfg.defrost()
    out = cfg.SOLVER
    if s.MAX_EPOCHS > 0:
        out.MAX_ITER = max(1, epochs_to_iterations(s.MAX_EPOCHS, num_key_frames, batch))
        length = (f"{s.MAX_EPOCHS:g} epoch{'s' * (s.MAX_EPOCHS != 1)} of {num_key_frames} key frames at batch "
                  f"{batch} = {out.MAX_ITER} iterations")
    else:
        length = (f"{out.MAX_ITER} iterations (SOLVER.MAX_ITER) at batch {batch} = "
                  f"{out.MAX_ITER * batch / num_key_frames:.3g} epochs of {num_key_frames} key frames")
    if step_epochs:
        out.STEPS = _epoch_steps(step_epochs, num_key_frames, batch)
        steps = f"LR steps at epochs {_listed(step_epochs)} = iterations {_listed(out.STEPS)}"
    else:
        steps = f"LR steps at iterations {_listed(out.STEPS)} (SOLVER.STEPS)"
    out.MAX_EPOCHS, out.STEPS_EPOCHS = 0, ()
    logger.info(f"Schedule: {length}, {steps}, warm-up {out.WARMUP_ITERS} iterations")
    if frozen:
        cfg.freeze()
    return cfg
