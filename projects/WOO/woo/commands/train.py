"""``woo train``: train and/or evaluate a config, in one or several processes.

Processes come from ``torchrun``, from ``--num-gpus N`` (and ``--num-machines`` /
``--machine-rank`` / ``--dist-url`` for several machines), or neither (one process);
see :func:`woo.engine.launch.launch`.
"""
import argparse
import logging
import os
from typing import Optional

import torch

from woo.config import load_config
from woo.data.build import get_dataset_dicts
from woo.data.catalog import check_split_files, get_split
from woo.engine.launch import launch
from woo.formats.atomic import atomic_write
from woo.engine.schedule import resolve_schedule, scale_to_world_size
from woo.engine.trainer import Trainer
from woo.runtime import comm
from woo.runtime.logger import setup_logger
from woo.runtime.output_dir import OutputDirError, RunLock, prepare_output_dir
from woo.runtime.seed import resolve_seed, seed_all_rng
from woo.runtime.threads import configure_threads

__all__ = ["add_arguments", "main", "run"]

logger = logging.getLogger("woo.engine")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT_DIR/last_checkpoint (model, optimizer, scheduler, iteration, RNG)",
    )
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="only evaluate MODEL.WEIGHTS (or, with --resume, the last checkpoint)",
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine")
    parser.add_argument("--num-machines", type=int, default=1, help="machines in the job")
    parser.add_argument("--machine-rank", type=int, default=0, help="rank of this machine")
    parser.add_argument(
        "--dist-url",
        default="auto",
        help="init URL of the process group, e.g. tcp://host:port; 'auto' picks a free local port",
    )
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides, e.g. SOLVER.MAX_ITER 100 OUTPUT_DIR ./output/x (flags may stand among them)",
    )


def run(args: argparse.Namespace) -> dict:
    """Body of one process: set up, then train or evaluate. Returns the final metrics."""
    cfg = load_config(args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available; "
                "add 'MODEL.DEVICE cpu' to the command line"
            )
        if comm.is_dist() or args.num_gpus > 1:
            cfg.MODEL.DEVICE = f"cuda:{comm.get_local_rank()}"
            torch.cuda.set_device(comm.get_local_rank())
    cfg.SEED = resolve_seed(cfg.SEED)
    _check_datasets(cfg)
    cfg.freeze()
    lock = _prepare_output_dir(cfg.OUTPUT_DIR, lock=not args.eval_only)
    try:
        return _run(cfg, args, lock)
    finally:
        if lock is not None:
            lock.release()


def _run(cfg, args: argparse.Namespace, lock: Optional[RunLock]) -> dict:
    """Log, seed and build the trainer; train, or evaluate for --eval-only."""
    rank = comm.get_rank()
    setup_logger(cfg.OUTPUT_DIR, rank)
    if lock is not None and lock.stale_holder:
        logger.info(f"Took over the lock of a training that ended without releasing it ({lock.stale_holder})")
    logger.info(f"Rank {rank} of {comm.get_world_size()}; command line: {vars(args)}")
    # This process's threads, given its data workers and the processes sharing this machine.
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", args.num_gpus if comm.is_dist() else 1))
    configure_threads(args.threads, data_workers=cfg.DATALOADER.NUM_WORKERS,
                      processes=local_processes, log=rank == 0)
    records = None
    if not args.eval_only:
        # Loaded once: their number sets a schedule in epochs, and the training loader samples them.
        records = get_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
        cfg = resolve_schedule(scale_to_world_size(cfg, comm.get_world_size()), len(records))
    logger.info(f"Config:\n{cfg.dump()}")
    # Each process draws its own augmentations and dropout, reproducibly.
    seed_all_rng(cfg.SEED + rank)

    trainer = Trainer(cfg, train_records=records)
    if args.eval_only:
        if args.resume and trainer.checkpointer.has_checkpoint():
            path = trainer.checkpointer.get_checkpoint_file()
        elif cfg.MODEL.WEIGHTS:
            path = cfg.MODEL.WEIGHTS
        else:
            raise FileNotFoundError(
                "--eval-only needs MODEL.WEIGHTS, or --resume with a checkpoint in OUTPUT_DIR"
            )
        extra = trainer.checkpointer.load(path, checkpointables=[])
        # Iterations done; weights that do not record it (e.g. converted ones) count as 0.
        return trainer.test(iteration=int(extra["iteration"]) + 1 if "iteration" in extra else 0)
    trainer.resume_or_load(resume=args.resume)
    if trainer.start_iter == 0:
        _warn_without_kinetics_init(cfg)
    if comm.is_main_process():
        # The schedule in it is resolved into iterations: loaded again, it gives the same run.
        with atomic_write(os.path.join(cfg.OUTPUT_DIR, "config.yaml")) as f:
            f.write(cfg.dump())
    return trainer.train()


def _prepare_output_dir(output_dir: str, *, lock: bool) -> Optional[RunLock]:
    """Rank 0 creates OUTPUT_DIR and, for a training, locks it; every rank raises its error."""
    error, run_lock = None, None
    if comm.is_main_process():
        try:
            prepare_output_dir(output_dir)
            if lock:
                run_lock = RunLock(output_dir)
                run_lock.acquire()
        except OutputDirError as e:
            error = str(e)
    error = comm.broadcast_object(error)
    if error is not None:
        raise OutputDirError(error)
    return run_lock


def _warn_without_kinetics_init(cfg) -> None:
    """AVA trained from random weights: legal, but far from the paper, and easy to miss."""
    if cfg.MODEL.VIDEO_RESNET.PRETRAINED or cfg.MODEL.WEIGHTS:
        return
    if any(name.startswith("ava_") for name in cfg.DATASETS.TRAIN):
        logger.warning(
            "Training on AVA with a randomly initialized backbone: MODEL.VIDEO_RESNET.PRETRAINED is "
            "empty. The paper starts from Kinetics weights; without them expect far lower mAP. "
            "README.md, 'Kinetics-pretrained backbones', says where to get them."
        )


def _check_datasets(cfg) -> None:
    """Fail before anything is written when a dataset name or its files are missing.

    Rank 0 goes first, so that a synthetic split is generated once.
    """
    if not comm.is_main_process():
        comm.synchronize()
    try:
        for key in ("TRAIN", "TEST"):
            for name in cfg.DATASETS[key]:
                try:
                    split = get_split(name)
                except KeyError as e:
                    raise KeyError(f"DATASETS.{key}: {e.args[0]}") from None
                try:
                    check_split_files(split)
                except FileNotFoundError as e:
                    raise FileNotFoundError(f"DATASETS.{key}: {e}") from None
    finally:
        if comm.is_main_process():
            comm.synchronize()


def main(args: argparse.Namespace) -> int:
    """Run ``woo train`` in the processes the command line or torchrun asks for."""
    device = load_config(args.config_file, args.opts).MODEL.DEVICE
    launch(run, (args,), num_gpus=args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, backend="nccl" if device.startswith("cuda") else "gloo")
    return 0
