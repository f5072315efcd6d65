"""The training loop: AdamW steps, logging, checkpoints and periodic evaluation.

One :class:`Trainer` per process. With several processes the model is wrapped
in ``DistributedDataParallel`` and each process reads its own part of every
batch; rank 0 logs, writes checkpoints and scores the gathered predictions.

Iterations are counted as iterations done everywhere a person reads them (the
log's ``iter 4/4``, evaluation messages, ``metrics.json``, TensorBoard steps).
Checkpoint files keep detectron2's names and ``iteration`` field, the index of
the last iteration done: ``model_0004999.pth`` holds 5000 iterations.
"""
import json
import logging
import os
import re
import time
from contextlib import nullcontext
from typing import Dict, List, Optional

import torch
from fvcore.common.checkpoint import PeriodicCheckpointer
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from woo.data.build import build_test_loader, build_train_loader
from woo.formats.json_io import nan_to_null, write_json
from woo.modeling import build_model
from woo.runtime import comm
from woo.runtime.checkpoint import CheckpointError, WooCheckpointer, get_rng_state, set_rng_state
from woo.runtime.inference_modes import optimize_for_inference
from woo.runtime.interrupt import sigint_deferred, sigint_recorded
from woo.runtime.output_dir import inference_dir
from woo.runtime.threads import init_data_worker
from woo.reports.html import read_png

from .eval_report import REPORT_DIR, write_split_report
from .evaluators import build_evaluator, inference_on_dataset
from .optim import build_lr_scheduler, build_optimizer

__all__ = ["Trainer", "reduce_loss_dict"]


def _add_metric_scalars(writer, metrics: Dict, iteration: int) -> None:
    """Every ``frame_mAP@*`` and ``video_mAP@*`` figure of ``metrics`` to TensorBoard (rank 0's writer)."""
    if writer is None:
        return
    for key, value in metrics.items():
        if key.startswith(("frame_mAP@", "video_mAP@")):
            writer.add_scalar(key, value, iteration)


def _summary(result: Dict) -> Dict:
    """The figures of an evaluator's result that metrics.json holds: every ``frame_mAP@*``
    (both AVA protocols) and ``video_mAP@*`` (tube evaluation), and the per-class AP, where
    classes without ground truth (NaN) are null."""
    summary = {k: float(v) for k, v in result.items() if k.startswith(("frame_mAP@", "video_mAP@"))}
    summary["per_class"] = {k: nan_to_null(v) for k, v in result["per_class"].items()}
    return summary

logger = logging.getLogger("woo.engine")


def reduce_loss_dict(loss_dict: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Losses averaged over processes, as floats."""
    names = sorted(loss_dict)
    values = torch.stack([loss_dict[k].detach().float() for k in names])
    if comm.is_dist():
        values = values.to(comm.collective_device())
        torch.distributed.all_reduce(values)
        values /= comm.get_world_size()
    return {k: float(v) for k, v in zip(names, values.cpu())}


class Trainer:
    """Trains and evaluates the model that ``cfg`` describes.

    Args:
        cfg: a WOO config; ``cfg.SEED`` must already be resolved (non-negative)
            so that every process and a resumed run agree on the data order, and the
            schedule resolved (:func:`woo.engine.schedule.resolve_schedule`) when it is in epochs.
        train_records: the training key frames that sized the schedule; None loads DATASETS.TRAIN.
    """

    def __init__(self, cfg, train_records=None):
        self.cfg = cfg
        self.train_records = train_records
        self.device = torch.device(cfg.MODEL.DEVICE)
        self.output_dir = cfg.OUTPUT_DIR
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.amp = bool(cfg.SOLVER.AMP.ENABLED) and self.device.type == "cuda"

        model = build_model(cfg).to(self.device)
        self.model = model
        # Clips gradients in its step (SOLVER.CLIP_GRADIENTS), after the scaler unscales them.
        self.optimizer = build_optimizer(cfg, model)
        self.scheduler = build_lr_scheduler(self.optimizer, cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if comm.is_dist():
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            # Stages of the actor head may leave some parameters without gradient
            # (e.g. with deep supervision off), so unused parameters are allowed.
            self.ddp_model: nn.Module = DistributedDataParallel(
                model, device_ids=device_ids, find_unused_parameters=True
            )
        else:
            self.ddp_model = model
        self.checkpointer = WooCheckpointer(
            model,
            self.output_dir,
            save_to_disk=comm.is_main_process(),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            grad_scaler=self.scaler,
        )
        max_to_keep = cfg.SOLVER.CHECKPOINT_MAX_TO_KEEP
        if max_to_keep < 0:
            raise ValueError(f"SOLVER.CHECKPOINT_MAX_TO_KEEP must be >= 0 (0 keeps all), got {max_to_keep}")
        # Only rank 0 writes, so only rank 0 deletes.
        self.periodic_checkpointer = PeriodicCheckpointer(
            self.checkpointer,
            period=max(1, cfg.SOLVER.CHECKPOINT_PERIOD),
            max_to_keep=max_to_keep if max_to_keep > 0 and comm.is_main_process() else None,
        )
        self.start_iter = 0
        self.iter = 0
        # Updates done, and the random generators' state after the last: what an interrupted run saves.
        self.iterations_done = 0
        self._rng_done = None
        self._resumed_rng = None
        # {TensorBoard tag: per-class AP chart} of the last evaluation's reports (rank 0).
        self.report_images: Dict[str, str] = {}

    # ------------------------------------------------------------------ set-up
    def resume_or_load(self, resume: bool) -> None:
        """Resume from ``OUTPUT_DIR/last_checkpoint`` or load ``MODEL.WEIGHTS``.

        Resuming restores model, optimizer, scheduler, AMP scaler, iteration and
        the random generators; loading weights restores the model only. A
        finished run resumes from its ``model_final.pth`` (the model alone) and
        trains nothing more; training past it needs a periodic checkpoint.
        """
        if resume and self.checkpointer.has_checkpoint():
            path = self.checkpointer.get_checkpoint_file()
            extra = self.checkpointer.load(path)
            if "iteration" not in extra:
                raise CheckpointError(f"checkpoint {path} has no 'iteration'; it cannot be resumed")
            self.start_iter = int(extra["iteration"]) + 1
            if extra.get("model_only") and self.start_iter < self.max_iter:
                raise CheckpointError(
                    f"{path} holds the model alone (no optimizer or scheduler state), so training cannot "
                    f"continue from it to SOLVER.MAX_ITER {self.max_iter}: write the name of a periodic "
                    f"checkpoint (model_XXXXXXX.pth) into {os.path.join(self.output_dir, 'last_checkpoint')}, "
                    f"or start a new run with MODEL.WEIGHTS {path}"
                )
            self._resumed_rng = extra.get("rng")
            # Periodic checkpoints written before the interruption count towards
            # SOLVER.CHECKPOINT_MAX_TO_KEEP too.
            self.periodic_checkpointer.recent_checkpoints = _periodic_checkpoints(self.output_dir, self.start_iter)
            logger.info(f"Resumed from {path} after {self.start_iter} iterations")
        else:
            self.checkpointer.load(self.cfg.MODEL.WEIGHTS, checkpointables=[])
            self.start_iter = 0
            self._resumed_rng = None

    def build_train_loader(self, start_iter: int):
        return build_train_loader(self.cfg, start_iter=start_iter, records=self.train_records,
                                  rank=comm.get_rank(), world_size=comm.get_world_size(),
                                  worker_init_fn=init_data_worker)

    def build_test_loader(self, dataset_name: str):
        return build_test_loader(self.cfg, dataset_name, rank=comm.get_rank(), world_size=comm.get_world_size(),
                                 worker_init_fn=init_data_worker)

    # ---------------------------------------------------------------- training
    def train(self) -> Dict:
        """Train from ``start_iter`` to ``SOLVER.MAX_ITER``; return the final evaluation.

        A finished run (``model_final.pth`` and the ``metrics.json`` of its last iteration)
        returns those metrics at once. Ctrl-C (:class:`KeyboardInterrupt`) saves a checkpoint
        of the iterations done, from which ``--resume`` continues, and raises
        ``KeyboardInterrupt`` again with a message naming it. With several processes, all of
        them stop after the iteration (and its periodic evaluation or checkpoint) during
        which the first Ctrl-C came; a second Ctrl-C stops each one at once.
        """
        cfg = self.cfg
        if cfg.SOLVER.MAX_EPOCHS > 0 or cfg.SOLVER.STEPS_EPOCHS:
            raise ValueError("SOLVER.MAX_EPOCHS / SOLVER.STEPS_EPOCHS are not resolved into iterations: call "
                             "woo.engine.schedule.resolve_schedule(cfg, number of training key frames) first")
        finished = self._finished_metrics()
        if finished is not None:
            where = (f"its metrics: {os.path.join(self.output_dir, 'metrics.json')}" if cfg.DATASETS.TEST
                     else "DATASETS.TEST is empty")
            logger.info(f"Training finished already ({self.max_iter} iterations, model_final.pth); {where}")
            return finished
        try:
            return self._train()
        except KeyboardInterrupt:
            raise KeyboardInterrupt(self._save_interrupted()) from None

    def _finished_metrics(self) -> Optional[Dict]:
        """The metrics of a run that ended (every iteration, ``model_final.pth`` and its
        evaluation written), or None."""
        if self.start_iter < self.max_iter or not os.path.isfile(os.path.join(self.output_dir, "model_final.pth")):
            return None
        if not self.cfg.DATASETS.TEST:
            return {}
        try:
            with open(os.path.join(self.output_dir, "metrics.json"), encoding="utf-8") as f:
                metrics = json.load(f)
        except (OSError, ValueError):  # none (interrupted during the final evaluation) or unreadable
            return None
        return metrics if isinstance(metrics, dict) and metrics.get("iteration") == self.max_iter else None

    def _save_interrupted(self) -> str:
        """Checkpoint the updates done before Ctrl-C (rank 0; no collective call: the other
        processes stopped after the same iteration, or, during the final evaluation, wherever
        they were); return the line that says where ``--resume`` continues."""
        done = self.iterations_done
        if done >= self.max_iter and os.path.isfile(os.path.join(self.output_dir, "model_final.pth")):
            message = "interrupted during the final evaluation; `--resume` evaluates model_final.pth"
        elif done == 0:
            message = "interrupted before the first iteration ended; nothing to resume from"
        elif done == self.start_iter:  # nothing new since the checkpoint resumed from
            last = os.path.basename(self.checkpointer.get_checkpoint_file())
            message = f"interrupted at iteration {done}; `--resume` continues from {last}"
        else:
            name = f"model_{done - 1:07d}"
            with sigint_deferred():  # a second Ctrl-C does not cut the checkpoint short
                self._check_finite_weights()
                self.checkpointer.save(name, iteration=done - 1, rng=self._rng_done)
            message = f"interrupted at iteration {done}; `--resume` continues from {name}.pth"
        if comm.is_main_process():
            logger.info(message)
        return message

    def _train(self) -> Dict:
        cfg = self.cfg
        data_iter = iter(self.build_train_loader(self.start_iter))
        # Restored after the loader exists, so that whatever building it draws is
        # drawn identically in an uninterrupted and in a resumed run.
        if self._resumed_rng is not None and comm.is_main_process():
            set_rng_state(self._resumed_rng)
        self.iterations_done, self._rng_done = self.start_iter, get_rng_state()
        writer = self._summary_writer()
        log_period = max(1, cfg.SOLVER.LOG_PERIOD)
        ckpt_period = cfg.SOLVER.CHECKPOINT_PERIOD
        eval_period = cfg.TEST.EVAL_PERIOD
        logger.info(f"Training iterations {self.start_iter + 1}..{self.max_iter}")
        self.ddp_model.train()
        bar = tqdm(
            total=self.max_iter,
            initial=self.start_iter,
            desc="train",
            disable=not comm.is_main_process(),
            dynamic_ncols=True,
        )
        start_time = time.perf_counter()
        try:
            # With several processes, Ctrl-C is only recorded, and after every iteration the
            # processes agree whether any of them got one: all stop after the same iteration.
            # Raised wherever it lands, it would leave a process waiting in a collective (DDP's
            # gradient all-reduce) that the others never reach, until the group's timeout.
            with (sigint_recorded() if comm.is_dist() else nullcontext(None)) as interrupted:
                for self.iter in range(self.start_iter, self.max_iter):
                    data_start = time.perf_counter()
                    # Ctrl-C waits for the batch: cut short, a worker's tensor handover (its file
                    # descriptors, passed over a socket) fails with a traceback in that worker.
                    # A second Ctrl-C stops waiting (a stuck worker).
                    with sigint_deferred(second_interrupts=True):
                        batch = next(data_iter)
                    data_time = time.perf_counter() - data_start
                    loss_dict = self.run_step(batch)
                    bar.update(1)
                    it = self.iter + 1
                    if it % log_period == 0 or it == self.max_iter:
                        losses = reduce_loss_dict(loss_dict)
                        total = sum(losses.values())
                        lr = self.optimizer.param_groups[0]["lr"]
                        bar.set_postfix(loss=f"{total:.3f}", lr=f"{lr:.2e}")
                        if comm.is_main_process():
                            elapsed = time.perf_counter() - start_time
                            logger.info(
                                f"iter {it}/{self.max_iter} total_loss {total:.4f} "
                                + " ".join(f"{k} {v:.4f}" for k, v in losses.items())
                                + f" lr {lr:.3e} data_time {data_time:.3f} elapsed {elapsed:.1f}s"
                            )
                            if writer is not None:
                                writer.add_scalar("total_loss", total, it)
                                for k, v in losses.items():
                                    writer.add_scalar(k, v, it)
                                writer.add_scalar("lr", lr, it)
                                writer.add_scalar("data_time", data_time, it)
                    if eval_period > 0 and it % eval_period == 0 and it != self.max_iter:
                        _add_metric_scalars(writer, self.test(iteration=it), it)
                        self._add_report_images(writer, it)
                    if ckpt_period > 0 and it % ckpt_period == 0 and it != self.max_iter:
                        self.save()
                    if interrupted is not None and comm.any_process(interrupted()):
                        raise KeyboardInterrupt
            bar.close()
            if self.start_iter < self.max_iter or not os.path.isfile(
                os.path.join(self.output_dir, "model_final.pth")
            ):
                self.save_final()
            logger.info(f"Training done in {time.perf_counter() - start_time:.0f}s")
            metrics = self.test(iteration=self.max_iter)
            _add_metric_scalars(writer, metrics, self.max_iter)
            self._add_report_images(writer, self.max_iter)
            return metrics
        finally:
            bar.close()
            if writer is not None:
                writer.close()

    def run_step(self, batch) -> Dict[str, torch.Tensor]:
        """One optimizer step on ``batch``; returns the loss dict."""
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        try:
            with autocast:
                loss_dict = self.ddp_model(batch)
        except FloatingPointError as e:  # e.g. the matcher met non-finite predictions
            raise self._diverged(str(e)) from None
        losses = sum(loss_dict.values())
        if not torch.isfinite(losses):
            raise self._diverged(
                f"non-finite loss {float(losses.detach())} ("
                + ", ".join(f"{k} {float(v.detach()):.4g}" for k, v in loss_dict.items()) + ")"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses).backward()
        # Ctrl-C waits for the update to end: an interrupted run saves whole updates only.
        with sigint_deferred():
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.iterations_done = self.iter + 1
            self._rng_done = get_rng_state()
        return loss_dict

    def _diverged(self, what: str) -> FloatingPointError:
        """The error of a diverging run: what went non-finite, at which iteration, at which LR."""
        lr = self.optimizer.param_groups[0]["lr"]
        last = self.checkpointer.get_checkpoint_file() if self.checkpointer.has_checkpoint() else ""
        kept = f"the last checkpoint, {last}, is kept" if last else "no checkpoint was written"
        return FloatingPointError(
            f"training diverged at iteration {self.iter + 1}: {what}; learning rate {lr:.4g} "
            f"(SOLVER.BASE_LR {self.cfg.SOLVER.BASE_LR:g}); {kept}. Lower SOLVER.BASE_LR or "
            "enable SOLVER.CLIP_GRADIENTS"
        )

    def _check_finite_weights(self) -> None:
        # A step can turn weights non-finite while its loss was still finite; such a
        # model must not overwrite the last good checkpoint.
        for name, param in self.model.named_parameters():
            if not torch.isfinite(param).all():
                raise self._diverged(f"non-finite weights in {name}")

    def save(self) -> None:
        """Checkpoint everything needed to continue after iteration ``self.iter``
        (keeping the last SOLVER.CHECKPOINT_MAX_TO_KEEP of these files when it is > 0)."""
        self._check_finite_weights()
        self.periodic_checkpointer.step(self.iter, rng=get_rng_state())
        comm.synchronize()

    def save_final(self) -> None:
        """``model_final.pth``: the model alone (about a third of a full checkpoint
        with AdamW's two moments), with its iteration, so a finished run resumes."""
        self._check_finite_weights()
        self.checkpointer.save("model_final", model_only=True, iteration=max(self.start_iter, self.max_iter) - 1)
        comm.synchronize()

    def _summary_writer(self):
        if not comm.is_main_process():
            return None
        return SummaryWriter(log_dir=self.output_dir)

    def _add_report_images(self, writer, iteration: int) -> None:
        """The per-class AP charts of the last evaluation's reports to TensorBoard."""
        if writer is None:
            return
        for tag, path in self.report_images.items():
            writer.add_image(tag, read_png(path), iteration, dataformats="HWC")

    # -------------------------------------------------------------- evaluation
    def test(self, iteration: Optional[int] = None) -> Dict:
        """Evaluate on every ``DATASETS.TEST`` split; write detections and ``metrics.json``.

        The training random generators are put back afterwards, so evaluating
        does not change what training draws next.
        """
        cfg = self.cfg
        if not cfg.DATASETS.TEST:
            return {}
        rng = get_rng_state()
        # A prepared copy (BN folded, channels-last): self.model goes on training untouched.
        model = optimize_for_inference(self.model, cfg)
        per_dataset = {}
        for name in cfg.DATASETS.TEST:
            out_dir = inference_dir(self.output_dir, name, len(cfg.DATASETS.TEST))
            evaluator = build_evaluator(cfg, name, out_dir if comm.is_main_process() else "")
            per_dataset[name] = inference_on_dataset(
                model, self.build_test_loader(name), evaluator,
                precision=cfg.MODEL.INFERENCE.PRECISION,
            )
        set_rng_state(rng)
        if not comm.is_main_process():
            comm.synchronize()
            return {}
        first = per_dataset[cfg.DATASETS.TEST[0]]
        metrics = {**_summary(first), "iteration": int(iteration if iteration is not None else self.iter + 1)}
        if len(per_dataset) > 1:
            metrics["datasets"] = {name: _summary(r) for name, r in per_dataset.items()}
        path = os.path.join(self.output_dir, "metrics.json")
        write_json(path, metrics)
        figures = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith(("frame_mAP@", "video_mAP@")))
        logger.info(f"{cfg.DATASETS.TEST[0]} at iteration {metrics['iteration']}: {figures}")
        for cls_name, ap in metrics["per_class"].items():
            logger.info(f"  AP {cls_name}: {ap:.4f}" if ap is not None else f"  AP {cls_name}: no ground truth")
        self.report_images = {}
        for name, result in per_dataset.items():
            folder = inference_dir(self.output_dir, name, len(cfg.DATASETS.TEST))
            tag = "per_class_AP" if len(per_dataset) == 1 else f"per_class_AP/{name}"
            self.report_images[tag] = write_split_report(folder, _summary(result), result, name, metrics["iteration"])
            logger.info(f"Evaluation report of {name}: {os.path.join(folder, REPORT_DIR, 'index.html')}")
        comm.synchronize()
        return metrics


def _periodic_checkpoints(output_dir: str, iterations_done: int) -> List[str]:
    """Paths of the ``model_XXXXXXX.pth`` files in ``output_dir`` written within the
    first ``iterations_done`` iterations, oldest first."""
    names = sorted(n for n in os.listdir(output_dir) if re.fullmatch(r"model_\d{7}\.pth", n))
    return [os.path.join(output_dir, n) for n in names if int(n[6:13]) < iterations_done]
