#!/usr/bin/env python
"""Train and evaluate WOO with detectron2.

    python projects/WOO/train_net.py --config-file configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml --num-gpus 8
    python projects/WOO/train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth

The YAML configs are those of ``woo train``, and checkpoints load in both.
"""

import os

from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

# Importing woo.d2 registers the META_ARCH "WOO", its backbone, its ROI heads and the datasets.
from woo.d2 import (
    AtomicDetectionCheckpointer,
    build_clip_test_loader,
    build_clip_train_loader,
    build_evaluator,
    get_cfg,
    get_clip_dataset_dicts,
)
from woo.config import settle_schedule_units
from woo.engine.optim import build_lr_scheduler, build_optimizer
from woo.engine.schedule import resolve_schedule
from woo.formats.atomic import atomic_write
from woo.runtime.inference_modes import autocast_context, optimize_for_inference
from woo.runtime.output_dir import inference_dir


class Trainer(DefaultTrainer):
    """detectron2's default training loop with WOO's data, optimizer, schedule and evaluator."""

    def __init__(self, cfg):
        # As ``woo train``: the recipe moved to this number of GPUs, then a schedule in epochs
        # resolved from the training key frames, which are loaded once, here, for the loader too.
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        self.train_records = get_clip_dataset_dicts(
            cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        )
        cfg = resolve_schedule(cfg, len(self.train_records))
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            # default_setup wrote the config before the schedule was resolved.
            with atomic_write(os.path.join(cfg.OUTPUT_DIR, "config.yaml")) as f:
                f.write(cfg.dump())
        super().__init__(cfg)

    def build_hooks(self):
        # Checkpoint files are written atomically, as ``woo train`` writes them.
        old = self.checkpointer
        self.checkpointer = AtomicDetectionCheckpointer(
            old.model, old.save_dir, save_to_disk=old.save_to_disk, **old.checkpointables
        )
        return super().build_hooks()

    def build_train_loader(self, cfg):
        # An instance method: the records that sized the schedule are the ones sampled.
        return build_clip_train_loader(cfg, records=self.train_records)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_clip_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = inference_dir(cfg.OUTPUT_DIR, dataset_name, len(cfg.DATASETS.TEST))
        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        # As every WOO inference path: MODEL.INFERENCE modes, on a copy of the trained model.
        prepared = optimize_for_inference(model, cfg)
        device_type = next(prepared.parameters()).device.type
        with autocast_context(cfg.MODEL.INFERENCE.PRECISION, device_type):
            return super().test(cfg, prepared, evaluators)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        return build_lr_scheduler(optimizer, cfg)


def setup(args):
    """Config from the WOO defaults, ``args.config_file`` and ``args.opts``; logging and seeds."""
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    # The command line's SOLVER.MAX_ITER wins over the file's SOLVER.MAX_EPOCHS, as in ``woo train``.
    settle_schedule_units(cfg, args.config_file, args.opts)
    # As in ``woo train``: mixed precision is a CUDA feature.
    if not cfg.MODEL.DEVICE.startswith("cuda"):
        cfg.SOLVER.AMP.ENABLED = False
    cfg.freeze()
    default_setup(cfg, args)
    # WOO's own log lines (datasets read, the schedule) beside detectron2's, in its log.txt.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="woo")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        AtomicDetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
