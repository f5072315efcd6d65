"""The synthetic AVA-format dataset and the ``woo synth`` command.

Every video is one static camera shot: a textured background, static
distractor shapes (circles, triangles, diamonds: never actors) and actors
(a body with a head) who appear and leave at half-second boundaries. Each actor
keeps one motion class for its life (stand, walk left/right, bob up and down;
the same body on the key frame, told apart only over time) and may add
appearance classes (carry a yellow square, crouch, raise an arm). Key frames
hold zero to ``max_actors`` actors. The output follows the AVA/PySlowFast
layout exactly (frames, frame lists, annotation CSVs, pbtxt label map,
exclusions) and is byte-identical for one seed and OpenCV build.
"""
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Set, Tuple

import cv2
import numpy as np

from woo.formats.atomic import atomic_directory
from woo.formats.ava_annotations import AVA_VALID_TIMESTAMPS, FPS, key_frame_index

__all__ = ["ACTIONS", "SyntheticConfig", "generate", "generate_atomically", "ensure_synthetic", "split_files"]

logger = logging.getLogger(__name__)

# (id, name); ids 1..3 are motion-only, 4..6 change the key frame's appearance.
ACTIONS = [(1, "stand"), (2, "walk"), (3, "bob"), (4, "carry"), (5, "crouch"), (6, "raise arm")]
_MOTIONS = (1, 2, 3)
# appearance action -> probability that an actor has it
_APPEARANCE_PROB = {4: 0.35, 5: 0.3, 6: 0.3}
_PREFIX = "woo_synthetic"
# The layout version, also in the annotation file names: a stored set of another version
# is regenerated (v1.1: 48 train and 64 val videos instead of 24 and 8).
_VERSION = "v1.1"
_PARAMS_FILE = "woo_synthetic.json"
# Key seconds are AVA's first ones; frame 0 is second 900, as in AVA.
_FIRST_KEY_SECOND = AVA_VALID_TIMESTAMPS[0]
# Saturated RGB colours shared by actor bodies and distractors, so colour never tells them apart.
_PALETTE = [(220, 40, 40), (40, 90, 220), (40, 170, 60), (240, 140, 20), (150, 50, 200), (20, 170, 170)]
_SKIN = (235, 195, 160)
_CARRY = (255, 235, 0)


@dataclass(frozen=True)
class SyntheticConfig:
    """Generation parameters (the defaults make the auto-generated dataset).

    Attributes:
        seed: random seed; one seed gives byte-identical output.
        train_videos / val_videos: videos per split. The val split is large (510 key
            frames) so that frame-mAP varies little with the training seed; video ``i``
            of a split is the same for any number of videos.
        key_frames: annotated seconds per video (902 .. 901 + key_frames);
            every video has (key_frames + 2) * 30 frames.
        width / height: frame size in pixels.
        max_actors: most actors on one key frame.
        empty_key_frames: key frames without actors per video.
        excluded_key_frames: key frames per split listed in the exclusions file.
        max_distractors: static non-actor shapes per video (1..max).
        jpeg_quality: OpenCV JPEG quality of the frames.
        motion_scale: factor on walking speeds (1.0 to 1.6 px per frame at 120 px height) and
            bobbing amplitudes (5 to 8 px) of the motion-only classes.
    """

    seed: int = 0
    train_videos: int = 48
    val_videos: int = 64
    key_frames: int = 8
    width: int = 160
    height: int = 120
    max_actors: int = 3
    empty_key_frames: int = 1
    excluded_key_frames: int = 2
    max_distractors: int = 3
    jpeg_quality: int = 85
    motion_scale: float = 1.0


def split_files(root: str, subset: str) -> Dict:
    """Paths of split ``subset`` ("train" / "val") under ``root`` as :class:`AVASplit` keyword args."""
    ann = os.path.join(root, "annotations")
    label_map = os.path.join(ann, f"{_PREFIX}_action_list_{_VERSION}.pbtxt")
    return dict(
        frames_dir=os.path.join(root, "frames"),
        frame_list=os.path.join(root, "frame_lists", f"{subset}.csv"),
        annotations=os.path.join(ann, f"{_PREFIX}_{subset}_{_VERSION}.csv"),
        label_map=label_map,
        eval_label_map=label_map,
        exclusions=os.path.join(ann, f"{_PREFIX}_{subset}_excluded_timestamps_{_VERSION}.csv"),
        num_actions=len(ACTIONS),
    )


# ---------------------------------------------------------------- scene layout


@dataclass
class _Actor:
    person_id: int
    actions: Tuple[int, ...]
    color: Tuple[int, int, int]
    first_frame: int  # visible in [first_frame, end_frame)
    end_frame: int
    x0: float  # body centre at first_frame
    foot0: float  # body bottom at first_frame
    body_w: int
    body_h: int
    velocity: float = 0.0  # walk: px / frame, either sign
    amplitude: float = 0.0  # bob: px
    period: float = 1.0  # bob: frames
    phase: float = 0.0


def _reflect(u: float, low: float, high: float) -> float:
    """Position ``u`` bounced between walls at ``low`` and ``high``."""
    span = high - low
    p = (u - low) % (2 * span)
    return low + (p if p <= span else 2 * span - p)


def _position(actor: _Actor, frame: int, width: int) -> Tuple[float, float]:
    t = frame - actor.first_frame
    x, foot = actor.x0, actor.foot0
    if 2 in actor.actions:
        margin = actor.body_w
        x = _reflect(actor.x0 + actor.velocity * t, margin, width - margin)
    if 3 in actor.actions:
        foot = actor.foot0 + actor.amplitude * np.sin(2 * np.pi * t / actor.period + actor.phase)
    return x, foot


def _new_actor(rng: np.random.Generator, cfg: SyntheticConfig, person_id: int, first: int, others,
               actions: Tuple[int, ...] = ()) -> _Actor:
    """A new actor; its ``actions`` are drawn unless given. Given actions, the same generator
    state gives the same actor (colour, size, place, motion) whatever the actions."""
    scale = cfg.height / 120.0
    if not actions:
        actions = [int(rng.choice(_MOTIONS))]
        actions += [a for a, p in _APPEARANCE_PROB.items() if rng.random() < p]
    body_h = int(rng.integers(26, 38) * scale)
    body_w = int(body_h * rng.uniform(0.45, 0.55))
    if 5 in actions:  # crouch: short and wide
        body_h, body_w = int(body_h * 0.6), int(body_w * 1.3)
    top_room = body_h + body_w + (body_h if 6 in actions else 0)
    for _ in range(30):  # keep actors apart on their first frame so boxes rarely overlap much
        x0 = rng.uniform(1.5 * body_w, cfg.width - 1.5 * body_w)
        foot0 = rng.uniform(top_room + 10 * scale, cfg.height - 8 * scale)
        if all(abs(x0 - o.x0) > (body_w + o.body_w) or abs(foot0 - o.foot0) > body_h for o in others):
            break
    actor = _Actor(person_id, tuple(sorted(actions)), _PALETTE[int(rng.integers(len(_PALETTE)))],
                   first, -1, x0, foot0, body_w, body_h)
    motion = scale * cfg.motion_scale
    actor.velocity = float(rng.uniform(1.0, 1.6) * motion * rng.choice([-1, 1]))
    actor.amplitude = float(rng.uniform(5.0, 8.0) * motion)
    actor.period = float(rng.uniform(20, 32))
    actor.phase = float(rng.uniform(0, 2 * np.pi))
    return actor


def frames_per_video(cfg: SyntheticConfig) -> int:
    """Frames of one video: from second 900 to the end of its last key second."""
    return key_frame_index(_FIRST_KEY_SECOND + cfg.key_frames)


def _plan_actors(rng: np.random.Generator, cfg: SyntheticConfig) -> List[_Actor]:
    """Actors of one video; the actor set changes only between key seconds."""
    num_frames = frames_per_video(cfg)
    empty = set(rng.choice(cfg.key_frames, size=min(cfg.empty_key_frames, cfg.key_frames), replace=False).tolist())
    alive: List[_Actor] = []
    actors: List[_Actor] = []
    for second in range(cfg.key_frames):
        boundary = 0 if second == 0 else key_frame_index(_FIRST_KEY_SECOND + second) - FPS // 2
        wanted = 0 if second in empty else int(rng.integers(1, cfg.max_actors + 1))
        keep = [a for a in alive if rng.random() < 0.7][:wanted]
        for actor in alive:
            if actor not in keep:
                actor.end_frame = boundary
        alive = keep
        while len(alive) < wanted:
            actor = _new_actor(rng, cfg, len(actors), boundary, alive)
            alive.append(actor)
            actors.append(actor)
    for actor in alive:
        actor.end_frame = num_frames
    return actors


# ---------------------------------------------------------------- drawing


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(H, W, 3) uint8 RGB: smooth blotches plus fine grain, muted colours."""
    base = rng.uniform(70, 170, size=3)
    coarse = rng.uniform(-45, 45, size=(4, 5, 3)).astype(np.float32)
    blotches = cv2.resize(coarse, (cfg.width, cfg.height), interpolation=cv2.INTER_CUBIC)
    grain = rng.uniform(-6, 6, size=(cfg.height, cfg.width, 1))
    image = np.clip(base + blotches + grain, 0, 255).astype(np.uint8)
    horizon = int(rng.uniform(0.25, 0.45) * cfg.height)  # a floor line gives the scene structure
    image[horizon:] = (image[horizon:] * 0.8).astype(np.uint8)
    return image


def _draw_distractors(rng: np.random.Generator, cfg: SyntheticConfig, image: np.ndarray) -> None:
    scale = cfg.height / 120.0
    for _ in range(int(rng.integers(1, cfg.max_distractors + 1))):
        color = _PALETTE[int(rng.integers(len(_PALETTE)))]
        size = int(rng.integers(10, 18) * scale)
        cx, cy = int(rng.uniform(size, cfg.width - size)), int(rng.uniform(size, cfg.height - size))
        kind = int(rng.integers(3))
        if kind == 0:
            cv2.circle(image, (cx, cy), size, color, -1, cv2.LINE_AA)
        else:
            if kind == 1:  # triangle
                pts = [(cx, cy - size), (cx - size, cy + size), (cx + size, cy + size)]
            else:  # diamond
                pts = [(cx, cy - size), (cx + size, cy), (cx, cy + size), (cx - size, cy)]
            cv2.fillPoly(image, [np.asarray(pts, dtype=np.int32)], color, cv2.LINE_AA)


def _draw_actor(image: np.ndarray, actor: _Actor, x: float, foot: float) -> Tuple[int, int, int, int]:
    """Draw ``actor`` with body centre ``x`` and body bottom ``foot``; returns its pixel box [x1, x2) x [y1, y2)."""
    h, w = image.shape[:2]
    bw, bh = actor.body_w, actor.body_h
    left, right = int(round(x - bw / 2)), int(round(x + bw / 2))
    bottom = int(round(foot))
    top = bottom - bh
    dark = tuple(int(c * 0.5) for c in actor.color)
    cv2.rectangle(image, (left, top), (right - 1, bottom - 1), actor.color, -1)
    cv2.rectangle(image, (left, top), (right - 1, bottom - 1), dark, 1)
    radius = max(2, int(round(bw * 0.38)))
    head_y = top - radius
    cv2.circle(image, (int(round(x)), head_y), radius, _SKIN, -1, cv2.LINE_AA)
    box = [left, head_y - radius, right, bottom]
    if 6 in actor.actions:  # arm raised above the head
        arm_w = max(2, bw // 5)
        arm_top = head_y - radius - bh // 2
        cv2.rectangle(image, (right - arm_w, arm_top), (right - 1, top + bh // 4), dark, -1)
        box[1] = min(box[1], arm_top)
    if 4 in actor.actions:  # a square held at the side
        side = max(4, int(bw * 0.6))
        sq_top = top + bh // 3
        cv2.rectangle(image, (right - 1, sq_top), (right + side - 2, sq_top + side - 1), _CARRY, -1)
        box[2] = max(box[2], right + side - 1)
        box[3] = max(box[3], sq_top + side)
    return max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)


# ---------------------------------------------------------------- writing


def _write_video(out: str, video_id: str, rng: np.random.Generator, cfg: SyntheticConfig) -> Dict[int, List]:
    """Write one video's frames; returns ``{key second: [(box, actions, person_id), ...]}``."""
    background = _background(rng, cfg)
    _draw_distractors(rng, cfg, background)
    actors = _plan_actors(rng, cfg)
    video_dir = os.path.join(out, "frames", video_id)
    os.makedirs(video_dir)
    num_frames = frames_per_video(cfg)
    seconds = range(_FIRST_KEY_SECOND, _FIRST_KEY_SECOND + cfg.key_frames)
    key_frames = {key_frame_index(second): second for second in seconds}
    people: Dict[int, List] = {t: [] for t in key_frames.values()}
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    for frame in range(num_frames):
        image = background.copy()
        visible = [a for a in actors if a.first_frame <= frame < a.end_frame]
        placed = [(a, *_position(a, frame, cfg.width)) for a in visible]
        for actor, x, foot in sorted(placed, key=lambda p: (p[2], p[0].person_id)):  # far (higher) first
            box = _draw_actor(image, actor, x, foot)
            if frame in key_frames:
                people[key_frames[frame]].append((box, actor.actions, actor.person_id))
        path = os.path.join(video_dir, f"{video_id}_{frame + 1:06d}.jpg")
        if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"cannot write {path}")
    return people


def _write_split(out: str, subset: str, num_videos: int, cfg: SyntheticConfig) -> None:
    files = split_files(out, subset)
    split_code = {"train": 0, "val": 1}[subset]
    frame_rows = ["original_vido_id video_idx frame_id path labels"]
    annotated: List[Tuple[str, int, List]] = []
    for index in range(num_videos):
        video_id = f"{subset}{index:03d}"
        rng = np.random.default_rng([cfg.seed, split_code, index])
        people = _write_video(out, video_id, rng, cfg)
        for frame in range(frames_per_video(cfg)):
            frame_rows.append(f'{video_id} {index} {frame} {video_id}/{video_id}_{frame + 1:06d}.jpg ""')
        annotated += [(video_id, t, people[t]) for t in sorted(people)]
    # Excluded key frames are, as in AVA, ones with people whose labels are withheld.
    rng = np.random.default_rng([cfg.seed, split_code, 1 << 20])
    candidates = [i for i, (_, _, p) in enumerate(annotated) if p]
    excluded = sorted(rng.choice(candidates, size=min(cfg.excluded_key_frames, len(candidates)), replace=False).tolist())
    ann_rows, excl_rows = [], []
    for i, (video_id, timestamp, people) in enumerate(annotated):
        if i in excluded:
            excl_rows.append(f"{video_id},{timestamp:04d}")
            continue
        for (x1, y1, x2, y2), actions, person_id in sorted(people, key=lambda p: p[2]):
            box = f"{x1 / cfg.width:.3f},{y1 / cfg.height:.3f},{x2 / cfg.width:.3f},{y2 / cfg.height:.3f}"
            ann_rows += [f"{video_id},{timestamp:04d},{box},{a},{person_id}" for a in actions]
    for path, rows in ((files["frame_list"], frame_rows), (files["annotations"], ann_rows), (files["exclusions"], excl_rows)):
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(row + "\n" for row in rows))


def generate(out: str, cfg: SyntheticConfig = SyntheticConfig()) -> None:
    """Write the dataset into the new directory ``out`` (which must not exist)."""
    os.makedirs(out)
    for sub in ("frames", "frame_lists", "annotations"):
        os.makedirs(os.path.join(out, sub))
    with open(split_files(out, "train")["label_map"], "w", encoding="utf-8", newline="\n") as f:
        for action_id, name in ACTIONS:
            kind = "PERSON_MOVEMENT" if action_id in _MOTIONS else "OBJECT_MANIPULATION"
            f.write(f'label {{\n  name: "{name}"\n  label_id: {action_id}\n  label_type: {kind}\n}}\n')
    _write_split(out, "train", cfg.train_videos, cfg)
    _write_split(out, "val", cfg.val_videos, cfg)
    with open(os.path.join(out, _PARAMS_FILE), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"version": _VERSION, "params": asdict(cfg)}, f, indent=2, sort_keys=True)
        f.write("\n")


def generate_atomically(out: str, cfg: SyntheticConfig, write=None) -> None:
    """Generate with ``write`` (default :func:`generate`) into a folder renamed to ``out`` at the end,
    so ``out`` is never half written (a second process finishing first keeps its identical copy)."""
    with atomic_directory(out) as staged:
        (write or generate)(staged, cfg)


# (root, stored parameters) of the non-default sets already warned about
_LOGGED: Set[Tuple[str, str]] = set()


def _remove(root: str) -> None:
    """Delete the folder ``root``: first renamed aside, so that it is never seen half deleted."""
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.old.", dir=os.path.dirname(os.path.abspath(root)))
    try:
        os.replace(root, os.path.join(aside, "data"))
    except FileNotFoundError:  # another process moved it first
        pass
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def ensure_synthetic(root: str, config=None, *, write=None, version: str = _VERSION,
                     what: str = "synthetic dataset") -> str:
    """``root`` holding a synthetic dataset, generated with ``config`` when missing.

    Args:
        root: the dataset folder.
        config: its generation parameters (default: :class:`SyntheticConfig`'s defaults).
        write: ``write(out, config)`` generator (default: the AVA layout's).
        version: the generator version stored beside the parameters.
        what: the dataset's name in messages.

    A set of another ``version`` is deleted and generated again (with a warning); one of this
    version with other parameters is used as it is (with a warning, once a process).

    Raises:
        FileExistsError: ``root`` exists but is not a complete synthetic dataset.
    """
    config = SyntheticConfig() if config is None else config
    params_file = os.path.join(root, _PARAMS_FILE)
    if os.path.isfile(params_file):
        with open(params_file, encoding="utf-8") as f:
            stored = json.load(f)
        if stored.get("version") != version:
            # Another layout version: this code would not read it as it was meant (file names,
            # sizes), so it is replaced, also when `woo synth` wrote it.
            logger.warning("%s holds the %s of layout version %s; this code uses %s: regenerating it",
                           root, what, stored.get("version"), version)
            _remove(root)
            return ensure_synthetic(root, config, write=write, version=version, what=what)
        expected = {"version": version, "params": asdict(config)}
        # A parameter added after the set was written (motion_scale) had its default's value then.
        stored = {**stored, "params": {**asdict(type(config)()), **stored.get("params", {})}}
        if stored != expected and (root, str(stored)) not in _LOGGED:
            # Possibly written on purpose with `woo synth`: use it, and say so once in the log
            # (not on the console, where a command's errors are one line).
            _LOGGED.add((root, str(stored)))
            logger.info("%s differs from the default %s (%s); delete %s to regenerate it",
                           params_file, what, stored, root)
        return root
    if os.path.exists(root):
        raise FileExistsError(f"{root} exists but has no {_PARAMS_FILE}; delete it to regenerate the {what}")
    start = time.perf_counter()
    logger.info("generating the %s in %s", what, root)
    generate_atomically(root, config, write=write)
    logger.info("%s written in %.1f s", what, time.perf_counter() - start)
    return root
