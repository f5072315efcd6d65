"""The synthetic dataset in the JHMDB-21 layout (``woo synth --format jhmdb``).

The scenes are those of :mod:`woo.data.synthetic` (textured background, static
distractors, a body with a head), made JHMDB-like: every video is one trimmed
clip of ``num_frames`` frames with one actor doing one action for the whole
clip. The action is one of the six synthetic ones, a single label per actor:
a motion (stand, walk, bob) alone, or an appearance (carry, crouch, raise arm)
on top of a motion. Videos come in scenes of six, one per action: the same
background, distractors and actor (colour, size, place, speed), so that
nothing but the action tells a video's label (with one scene per video, a model
can learn the training scenes instead of the actions). Output:

* ``woo_synthetic_jhmdb-GT.pkl``: the ACT ground-truth dict (``labels``,
  ``gttubes`` with pixel-inclusive boxes, ``nframes``, ``train_videos``,
  ``test_videos`` with one split, ``resolution``), numpy arrays and plain
  containers only;
* ``Frames/<video>/%05d.png`` (1-based);
* ``woo_synthetic.json``: the generation parameters.

One seed gives byte-identical files.
"""
import json
import logging
import os
import pickle
from dataclasses import asdict, dataclass
from typing import Dict, List

import cv2
import numpy as np

from woo.data.synthetic import (
    _PARAMS_FILE,
    ACTIONS,
    SyntheticConfig,
    _background,
    _draw_actor,
    _draw_distractors,
    _new_actor,
    _position,
    ensure_synthetic,
)

__all__ = ["JHMDBSyntheticConfig", "generate_jhmdb", "ensure_synthetic_jhmdb", "split_files"]

logger = logging.getLogger(__name__)

# v1.1: scenes of six videos, one per action, and 72 training videos instead of 36.
_VERSION = "jhmdb-v1.1"
_GT_FILE = "woo_synthetic_jhmdb-GT.pkl"
_APPEARANCES = (4, 5, 6)


@dataclass(frozen=True)
class JHMDBSyntheticConfig:
    """Generation parameters (the defaults make the auto-generated dataset).

    Attributes:
        seed: random seed; one seed gives byte-identical output.
        train_videos / test_videos: videos per subset; video ``i`` is scene ``i // 6`` with
            action ``i % 6``.
        num_frames: frames per video (JHMDB clips have 15 to 40).
        width / height: frame size in pixels.
        max_distractors: static non-actor shapes per video (1..max).
        motion_scale: as :class:`woo.data.synthetic.SyntheticConfig`'s.
    """

    seed: int = 0
    train_videos: int = 72
    test_videos: int = 24
    num_frames: int = 32
    width: int = 160
    height: int = 120
    max_distractors: int = 3
    motion_scale: float = 1.0


def split_files(root: str) -> Dict:
    """:class:`woo.data.tube_dataset.TubeSplit` keyword arguments of the set under ``root``."""
    return dict(groundtruth=os.path.join(root, _GT_FILE), frames_dir=os.path.join(root, "Frames"),
                frame_pattern="{:05d}.png", split=1)


def _scene(cfg: JHMDBSyntheticConfig, code: int, scene: int):
    """Background (distractors drawn) and actor generator state of one scene."""
    rng = np.random.default_rng([cfg.seed, code, scene])
    layout = SyntheticConfig(width=cfg.width, height=cfg.height, max_distractors=cfg.max_distractors)
    background = _background(rng, layout)
    _draw_distractors(rng, layout, background)
    return background, rng.bit_generator.state


def _write_video(out: str, video: str, label: int, scene, rng: np.random.Generator, cfg: JHMDBSyntheticConfig):
    """Write one video of action ``label`` (0-based) in ``scene``; returns its tube (num_frames, 5) float32.

    An appearance action comes on top of a motion drawn from ``rng``."""
    background, actor_state = scene
    action = label + 1
    actions = (action,) if action not in _APPEARANCES else (int(rng.choice((1, 2, 3))), action)
    actor_rng = np.random.default_rng()
    actor_rng.bit_generator.state = actor_state  # the scene's actor, whatever the action
    layout = SyntheticConfig(width=cfg.width, height=cfg.height, motion_scale=cfg.motion_scale)
    actor = _new_actor(actor_rng, layout, 0, 0, [], actions=actions)
    actor.end_frame = cfg.num_frames
    folder = os.path.join(out, "Frames", video)
    os.makedirs(folder)
    rows = []
    for frame in range(cfg.num_frames):
        image = background.copy()
        x1, y1, x2, y2 = _draw_actor(image, actor, *_position(actor, frame, cfg.width))
        rows.append([frame + 1, x1, y1, x2 - 1, y2 - 1])  # ACT boxes include their last pixel
        path = os.path.join(folder, f"{frame + 1:05d}.png")
        if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
    return np.array(rows, dtype=np.float32)


def generate_jhmdb(out: str, cfg: JHMDBSyntheticConfig = JHMDBSyntheticConfig()) -> None:
    """Write the dataset into the new directory ``out`` (which must not exist)."""
    os.makedirs(os.path.join(out, "Frames"))
    gttubes, nframes, resolution = {}, {}, {}
    subsets: Dict[str, List[str]] = {"train": [], "test": []}
    for code, (subset, count) in enumerate((("train", cfg.train_videos), ("test", cfg.test_videos))):
        for index in range(count):
            video = f"{subset}{index:03d}"
            scene, label = divmod(index, len(ACTIONS))  # classes equally common, as in JHMDB
            if label == 0:
                layout = _scene(cfg, code, scene)
            rng = np.random.default_rng([cfg.seed, code, scene, 1 + label])
            tube = _write_video(out, video, label, layout, rng, cfg)
            gttubes[video] = {label: [tube]}
            nframes[video] = cfg.num_frames
            resolution[video] = (cfg.height, cfg.width)
            subsets[subset].append(video)
    data = {
        "labels": [name for _, name in ACTIONS],
        "gttubes": gttubes,
        "nframes": nframes,
        "train_videos": [subsets["train"]],
        "test_videos": [subsets["test"]],
        "resolution": resolution,
    }
    with open(os.path.join(out, _GT_FILE), "wb") as f:
        pickle.dump(data, f, protocol=4)
    with open(os.path.join(out, _PARAMS_FILE), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"version": _VERSION, "params": asdict(cfg)}, f, indent=2, sort_keys=True)
        f.write("\n")


def ensure_synthetic_jhmdb(root: str) -> str:
    """``root`` holding the synthetic JHMDB-layout set, generated with the defaults when missing.

    Raises:
        FileExistsError: ``root`` exists but is not a complete synthetic set.
    """
    return ensure_synthetic(root, JHMDBSyntheticConfig(), write=generate_jhmdb, version=_VERSION,
                            what="synthetic JHMDB-layout dataset")
