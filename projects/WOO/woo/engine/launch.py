"""``woo train``: train and/or evaluate a config, in one or several processes.

Processes come from one of:

* ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in the environment):
  this process joins the group torchrun set up;
* ``--num-gpus N`` (and ``--num-machines``/``--machine-rank``/``--dist-url``
  for several machines): N local processes are spawned here;
* neither: a single process, no torch.distributed.

The process-group backend is NCCL when ``MODEL.DEVICE`` is CUDA, gloo otherwise
(so several CPU processes work too, e.g. for tests).
"""
import argparse
import logging
import os
import socket
import sys
from datetime import timedelta
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from woo.utils import comm
from .setup import load_config, resolve_seed, seed_all_rng, setup_logger

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
        help="config overrides, e.g. SOLVER.MAX_ITER 100 OUTPUT_DIR ./output/x",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend(cfg) -> str:
    return "nccl" if cfg.MODEL.DEVICE.startswith("cuda") else "gloo"


def run(args: argparse.Namespace) -> dict:
    """Body of one process: set up, then train or evaluate. Returns the final metrics."""
    from .trainer import Trainer

    cfg = load_config(args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available; "
                "add 'MODEL.DEVICE cpu' to the command line"
            )
        if comm.is_dist() or args.num_gpus > 1:
            cfg.MODEL.DEVICE = f"cuda:{comm.get_local_rank()}"
            torch.cuda.set_device(comm.get_local_rank())
    cfg.SEED = resolve_seed(cfg.SEED)
    _check_datasets(cfg)
    cfg.freeze()

    rank = comm.get_rank()
    setup_logger(cfg.OUTPUT_DIR, rank)
    logger.info(f"Rank {rank} of {comm.get_world_size()}; command line: {vars(args)}")
    logger.info(f"Config:\n{cfg.dump()}")
    # Each process draws its own augmentations and dropout, reproducibly.
    seed_all_rng(cfg.SEED + rank)

    trainer = Trainer(cfg)
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
        # Weights that do not record their iteration (e.g. converted ones) count as iteration 0.
        return trainer.test(iteration=int(extra.get("iteration", 0)))
    trainer.resume_or_load(resume=args.resume)
    if comm.is_main_process():
        with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
            f.write(cfg.dump())
    return trainer.train()


def _check_datasets(cfg) -> None:
    """Fail before anything is written when a dataset name or its files are missing.

    Rank 0 goes first, so that a synthetic split is generated once.
    """
    from woo.data.catalog import datasets_root, get_split

    if not comm.is_main_process():
        comm.synchronize()
    try:
        for key in ("TRAIN", "TEST"):
            for name in cfg.DATASETS[key]:
                try:
                    split = get_split(name)
                except KeyError as e:
                    raise KeyError(f"DATASETS.{key}: {e.args[0]}") from None
                # AVA-layout splits have the frame list, CSVs and label maps; JHMDB / UCF ones a pickle.
                for field in ("frames_dir", "frame_list", "annotations", "label_map", "eval_label_map", "groundtruth"):
                    path = getattr(split, field, None)
                    if path is not None and not os.path.exists(path):
                        raise FileNotFoundError(
                            f"DATASETS.{key}: dataset {name!r} is missing {path} "
                            f"(datasets root {datasets_root()!r}, set by $WOO_DATASETS)"
                        )
    finally:
        if comm.is_main_process():
            comm.synchronize()


def _worker(local_rank: int, args: argparse.Namespace, world_size: int, dist_url: str, backend: str):
    rank = args.machine_rank * args.num_gpus + local_rank
    dist.init_process_group(
        backend=backend,
        init_method=dist_url,
        world_size=world_size,
        rank=rank,
        timeout=timedelta(minutes=30),
    )
    comm.set_local_rank(local_rank)
    try:
        run(args)
    finally:
        dist.destroy_process_group()


def main(args: argparse.Namespace) -> int:
    """Run ``woo train``; a bad config, dataset or checkpoint prints one error line and returns 1."""
    from .checkpoint import CheckpointError

    try:
        return _main(args)
    except (KeyError, FileNotFoundError, CheckpointError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"woo train: error: {message}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        # Started by torchrun: the environment describes the group.
        cfg = load_config(args.config_file, args.opts)
        dist.init_process_group(backend=_backend(cfg), init_method="env://")
        comm.set_local_rank(int(os.environ.get("LOCAL_RANK", 0)))
        try:
            run(args)
        finally:
            dist.destroy_process_group()
        return 0
    world_size = args.num_gpus * args.num_machines
    if world_size <= 1:
        run(args)
        return 0
    dist_url = args.dist_url
    if dist_url == "auto":
        if args.num_machines != 1:
            raise ValueError("--dist-url auto works on one machine only; pass tcp://host:port")
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    backend = _backend(load_config(args.config_file, args.opts))
    mp.start_processes(
        _worker,
        nprocs=args.num_gpus,
        args=(args, world_size, dist_url, backend),
        start_method="spawn",
    )
    return 0
