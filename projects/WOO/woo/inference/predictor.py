"""``woo.VideoPredictor``: a trained WOO model on any video, key frame by key frame.

Every entry point (``predictor(video)``, ``woo demo``, callers with their own
decoding) goes through :meth:`VideoPredictor.predict_clips`, which resizes as
at test time, runs the model under ``torch.inference_mode`` and the configured
autocast, and returns boxes in pixels of the clips it was given. A live input
(camera, network stream) is scored as it arrives, the model in its own thread,
skipping key frames it has no time for (:mod:`woo.inference.live_schedule`).
"""
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from woo.data.catalog import class_names
from woo.data.transforms import check_input_format, resize_clip, resized_shape
from woo.formats.boxes import rescale_boxes
from woo.modeling import WOO, build_model
from woo.modeling.meta_arch import detection_scores
from woo.runtime.checkpoint import CheckpointError, WooCheckpointer
from woo.runtime.inference_modes import autocast_context, optimize_for_inference

from .clip_sampler import KeyClip, StreamingClipSampler
from .live_schedule import LatestClipScheduler, SkippedKeyFrame
from .video_reader import DecodedFrame, ThreadedFrameReader, VideoReadError, open_video

__all__ = ["VideoPredictor", "KeyFramePrediction", "PredictionStream", "class_names_of"]

logger = logging.getLogger(__name__)


@dataclass
class KeyFramePrediction:
    """The actors of one key frame.

    Attributes:
        time: key frame time in seconds from the first frame.
        frame_index: index of the decoded frame nearest ``time``.
        boxes: (M, 4) float32 x1y1x2y2 in pixels of the input frames.
        scores: (M,) actor scores, best first.
        actions: (M, C) action scores (``MODEL.WOO.ACTION_SCORE``: the action
            probability, or times the actor score).
        class_names: name of each action column (column j = action id j + 1).
        arrival: wall-clock time (``time.time()``) the key frame arrived, for a
            live input; None otherwise.
    """

    time: float
    frame_index: int
    boxes: np.ndarray
    scores: np.ndarray
    actions: np.ndarray
    class_names: Sequence[str]
    arrival: Optional[float] = None


def class_names_of(cfg) -> List[str]:
    """Action names of ``cfg``'s dataset (first of DATASETS.TEST, else TRAIN), column j = id j + 1
    (:func:`woo.data.catalog.class_names`); ``action <id>`` without a dataset."""
    num = cfg.MODEL.WOO.NUM_ACTIONS
    datasets = tuple(cfg.DATASETS.TEST) or tuple(cfg.DATASETS.TRAIN)
    if not datasets:
        return [f"action {i}" for i in range(1, num + 1)]
    return class_names(datasets[0], num)


class _CheckedCheckpointer(WooCheckpointer):
    """Refuses weights that do not fit the model (a foreign checkpoint, another config)."""

    def load(self, path, checkpointables=None):
        self._path = path
        return super().load(path, checkpointables=checkpointables)

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        missing, shapes = incompatible.missing_keys, incompatible.incorrect_shapes
        if missing or shapes:
            problems = [f"{len(missing)} of the model's {len(self.model.state_dict())} tensors missing"] if missing else []
            problems += [f"{len(shapes)} of another shape (e.g. {shapes[0][0]})"] if shapes else []
            raise CheckpointError(f"{self._path} is not a WOO checkpoint for this config: {', '.join(problems)}")
        return incompatible


def load_weights(model: nn.Module, path: str) -> None:
    """Load ``MODEL.WEIGHTS`` (``woo train`` or detectron2 ``train_net.py`` checkpoints) into ``model``.

    Raises:
        CheckpointError: naming the file when it is missing, unreadable or does not fit.
    """
    if not path:
        raise CheckpointError("MODEL.WEIGHTS is empty: give the checkpoint to run, e.g. MODEL.WEIGHTS "
                              "output/synthetic/WOO_Tiny/model_final.pth")
    _CheckedCheckpointer(model).load(path, checkpointables=[])


class VideoPredictor:
    """Run a WOO model on videos.

    ``VideoPredictor(cfg)`` builds the model of ``cfg`` on ``cfg.MODEL.DEVICE`` and
    loads ``cfg.MODEL.WEIGHTS``; a model built elsewhere (e.g. by ``woo.d2``,
    whose state-dict keys are the same) can be passed as ``model``.

    Args:
        cfg: a WOO config.
        model: an already built model; ``MODEL.WEIGHTS`` is loaded into it when set.
        key_stride: seconds between key frames (0: every frame).
        batch_size: key-frame clips per forward pass.
        class_names: names of the action columns (default: the dataset's label map).
    """

    def __init__(self, cfg, *, model: Optional[nn.Module] = None, key_stride: float = 1.0, batch_size: int = 4,
                 class_names: Optional[Sequence[str]] = None):
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.cfg = cfg
        self.device = torch.device(cfg.MODEL.DEVICE)
        owned = model is None
        if owned:
            model = build_model(cfg)
            load_weights(model, cfg.MODEL.WEIGHTS)
        else:
            model.to(self.device)
            if cfg.MODEL.WEIGHTS:
                load_weights(model, cfg.MODEL.WEIGHTS)
        # A subclass such as woo.d2's speaks another format; the core forward is the contract used here.
        # (torch.compile does not apply to it then: the core forward is called on the module itself.)
        core_forward = isinstance(model, WOO) and type(model).forward is not WOO.forward
        # A model given by the caller is prepared as a copy, so the caller's stays as it was.
        optimized = optimize_for_inference(model, cfg, inplace=owned)
        self.model = model
        if core_forward:
            self._forward = functools.partial(WOO.forward, getattr(optimized, "_orig_mod", optimized))
        else:
            self._forward = optimized
        self.precision = cfg.MODEL.INFERENCE.PRECISION
        self.key_stride = float(key_stride)
        self.batch_size = int(batch_size)
        self.num_frames = cfg.INPUT.NUM_FRAMES
        self.sampling_rate = cfg.INPUT.SAMPLING_RATE
        self.min_size, self.max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        self.image_format = check_input_format(cfg.INPUT.FORMAT)  # the model's channel order
        self.action_score = cfg.MODEL.WOO.ACTION_SCORE
        self.class_names = list(class_names) if class_names is not None else class_names_of(cfg)
        if len(self.class_names) != cfg.MODEL.WOO.NUM_ACTIONS:
            raise ValueError(f"{len(self.class_names)} class names for {cfg.MODEL.WOO.NUM_ACTIONS} actions")
        self.model_seconds = 0.0

    def test_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h, w) the model sees a ``height`` x ``width`` video at (``INPUT.MIN/MAX_SIZE_TEST``)."""
        return resized_shape(height, width, self.min_size, self.max_size)

    def predict_clips(self, clips: Union[torch.Tensor, np.ndarray],
                      input_size: Optional[Tuple[int, int]] = None) -> List[dict]:
        """Run the model on a batch of sampled clips.

        Args:
            clips: (N, 3, T, H, W) uint8 or float 0..255 RGB (given to the model in
                ``INPUT.FORMAT``'s channel order).
            input_size: (H0, W0) of the original frames when the clips were
                already resized to :meth:`test_size` of it; boxes come back in
                its pixels. Default: the clips' own size (resized here as at test time).

        Returns:
            per clip ``{"boxes" (M, 4), "scores" (M,), "actions" (M, C)}`` float32
            CPU tensors, boxes in pixels of ``input_size``, actions as
            ``MODEL.WOO.ACTION_SCORE`` scores them.
        """
        clips = torch.as_tensor(clips)
        if clips.dim() != 5 or clips.shape[1] != 3 or clips.shape[2] != self.num_frames:
            raise ValueError(f"clips must be (N, 3, {self.num_frames}, H, W), got {tuple(clips.shape)}")
        height, width = input_size or clips.shape[-2:]
        size = self.test_size(height, width)
        if tuple(clips.shape[-2:]) != size:
            if input_size is not None:
                raise ValueError(f"clips of {tuple(clips.shape[-2:])} are not the test size {size} of {input_size}")
            # The test-time resize itself, frame by frame: (N, 3, T, H, W) -> (N, T, H, W, 3) and back.
            frames = clips.permute(0, 2, 3, 4, 1).cpu().numpy()
            clips = torch.from_numpy(np.stack([resize_clip(f, size) for f in frames])).permute(0, 4, 1, 2, 3)
        if self.image_format == "BGR":
            clips = clips.flip(1)
        inputs = [{"clip": clip, "image_size": size} for clip in clips]
        start = time.perf_counter()
        with torch.inference_mode(), autocast_context(self.precision, self.device.type):
            outputs = self._forward(inputs)
        results = []
        for out in outputs:
            actor = out["scores"].float().cpu()
            results.append({"boxes": rescale_boxes(out["boxes"].float().cpu(), size, (height, width)), "scores": actor,
                            "actions": detection_scores(out["actions"], actor, self.action_score)})
        self.model_seconds += time.perf_counter() - start
        return results

    def stream(self, video, fps: Optional[float] = None, max_seconds: Optional[float] = None) -> "PredictionStream":
        """Decode ``video`` and predict its key frames; see :class:`PredictionStream`.

        Args:
            video: a video file path, a live input (``/dev/video0``, ``rtsp://...``, ``-``),
                a folder of frames, a (T, H, W, 3) RGB array, or a source from
                :func:`woo.inference.video_reader.open_video`.
            fps: frame rate of a folder or an array (default 30).
            max_seconds: stop after this many seconds of video.
        """
        return PredictionStream(self, video, fps, max_seconds)

    def __call__(self, video, fps: Optional[float] = None) -> Iterator[KeyFramePrediction]:
        """One :class:`KeyFramePrediction` per key frame of ``video`` (of a live input: per key
        frame scored), in time order."""
        with contextlib.closing(self.stream(video, fps)) as stream:
            for event in stream:
                if isinstance(event, KeyFramePrediction):
                    yield event


class PredictionStream:
    """Iterating yields every :class:`DecodedFrame` as it is decoded and every
    :class:`KeyFramePrediction` as soon as its clip has been through the model
    (after the frames it needs). ``info`` describes the video; after the
    iteration ``decode_stats`` counts decoded and lost frames.

    A live input (``info.live``) is read as it arrives: the model runs in a
    worker thread, one clip per forward pass, and when it falls behind it
    scores the newest complete clip and yields a :class:`SkippedKeyFrame` for
    each older one. Predictions then come between frames, each with the
    wall-clock ``arrival`` of its key frame. :meth:`close` stops early.

    Raises:
        VideoReadError: naming the input when it cannot be opened or no frame decodes.
    """

    # Seconds the consumer of a live input waits for a frame before it collects finished predictions.
    LIVE_TICK = 0.02

    def __init__(self, predictor: VideoPredictor, video, fps: Optional[float], max_seconds: Optional[float] = None):
        self.predictor = predictor
        source = open_video(video, fps=fps)
        self.info = source.info
        self.max_seconds = max_seconds
        size = predictor.test_size(self.info.height, self.info.width)
        self.reader = ThreadedFrameReader(source, transform=lambda image: resize_clip(image[None], size)[0])
        self.decode_stats = self.reader.stats
        self.sampler = StreamingClipSampler(num_frames=predictor.num_frames, sampling_rate=predictor.sampling_rate,
                                            key_stride=predictor.key_stride)
        self._events: Optional[Iterator] = None

    def _predict(self, clips: List[KeyClip]) -> Iterator[KeyFramePrediction]:
        batch = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 4, 1, 2, 3)  # (N,T,h,w,3) -> (N,3,T,h,w)
        outputs = self.predictor.predict_clips(batch, input_size=(self.info.height, self.info.width))
        for clip, out in zip(clips, outputs):
            yield KeyFramePrediction(time=clip.time, frame_index=clip.frame_index, boxes=out["boxes"].numpy(),
                                     scores=out["scores"].numpy(), actions=out["actions"].numpy(),
                                     class_names=self.predictor.class_names, arrival=clip.arrival)

    def __iter__(self) -> Iterator[Union[DecodedFrame, KeyFramePrediction, SkippedKeyFrame]]:
        self._events = self._live_events() if self.info.live else self._file_events()
        return self._events

    def close(self) -> None:
        """Stop decoding and predicting (the forward pass in progress finishes)."""
        if self._events is not None:
            self._events.close()
        else:  # never read: the decoder thread that closes the input never started
            self.reader.source.close()

    def _within_duration(self, frame: DecodedFrame) -> bool:
        if self.max_seconds is not None and frame.time >= self.max_seconds:
            self.decode_stats.cut = True
            return False
        return True

    def _check_decoded(self) -> None:
        if self.decode_stats.decoded == 0:
            detail = self.decode_stats.stopped or (self.decode_stats.messages[0] if self.decode_stats.messages else "")
            raise VideoReadError(f"no frame of {self.info.name} decodes" + (f" ({detail})" if detail else ""))

    def _file_events(self) -> Iterator[Union[DecodedFrame, KeyFramePrediction]]:
        batch_size = self.predictor.batch_size
        pending: List[KeyClip] = []
        with contextlib.closing(self.reader.frames()) as frames:
            for frame in frames:
                if not self._within_duration(frame):
                    break
                yield frame
                pending += self.sampler.push(frame)
                while len(pending) >= batch_size:
                    yield from self._predict(pending[:batch_size])
                    pending = pending[batch_size:]
        self._check_decoded()
        pending += self.sampler.finish()
        for start in range(0, len(pending), batch_size):
            yield from self._predict(pending[start:start + batch_size])

    def _live_events(self) -> Iterator[Union[DecodedFrame, KeyFramePrediction, SkippedKeyFrame]]:
        scheduler = LatestClipScheduler(lambda clips: list(self._predict(clips)))
        try:
            with contextlib.closing(self.reader.frames(tick=self.LIVE_TICK)) as frames:
                for frame in frames:
                    if frame is not None:
                        if not self._within_duration(frame):
                            break
                        yield frame
                        scheduler.submit(self.sampler.push(frame))
                    yield from scheduler.take()
            self._check_decoded()
            scheduler.submit(self.sampler.finish())
            scheduler.close()
            yield from scheduler.take()
        finally:
            scheduler.cancel()  # after close(): nothing left to stop
