"""Named dataset splits: where their files live, their records and their class names.

Splits are registered by name (:func:`register_dataset`, callable from user code); the fixed
splits below are registered at import. A set written by ``woo prepare`` needs no registering:
``PATH/dataset.yaml:SPLIT`` names its split (:mod:`woo.data.prepared`).

The datasets root is ``$WOO_DATASETS`` (default ``./datasets``). AVA lives in
``<root>/ava`` in the PySlowFast layout (see ``datasets/README.md``); the
synthetic set lives in ``<root>/woo_synthetic`` in the same layout and is
generated on first use when missing. JHMDB-21 and UCF101-24 live in
``<root>/jhmdb`` and ``<root>/ucf24`` in the ACT layout (:mod:`woo.data.tube_dataset`),
the synthetic JHMDB-layout set in ``<root>/woo_synthetic_jhmdb``; each test split
also has an ``_every8`` variant that tests every 8th frame.
"""
import functools
import logging
import os
from typing import Callable, Dict, List, Tuple, Union

from woo.formats.ava_annotations import FPS
from woo.formats.label_map import read_labelmap

from . import synthetic, synthetic_jhmdb
from .ava_dataset import AVASplit, load_ava_records
from .prepared import is_prepared_name, parse_prepared_name, prepared_split
from .records import KeyFrameRecords
from .split_files import check_split_files, datasets_root
from .tube_dataset import TubeSplit, load_tube_records, split_names, tube_split_factories

__all__ = ["AVASplit", "TubeSplit", "datasets_root", "register_dataset", "list_splits", "get_split",
           "evaluator_type", "check_split_files", "load_dataset_dicts", "class_names"]

logger = logging.getLogger(__name__)

Split = Union[AVASplit, TubeSplit]

# Frames of an AVA video extracted as datasets/README.md says: seconds 900..1801 at 30 FPS.
AVA_FRAMES_PER_VIDEO = 901 * FPS

# AVA release -> (label map of training, label map evaluated)
_AVA_LABEL_MAPS = {
    "v2.1": ("ava_action_list_v2.1.pbtxt", "ava_action_list_v2.1_for_activitynet_2018.pbtxt"),
    "v2.2": ("ava_action_list_v2.2.pbtxt", "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
}


def _ava_split(version: str, subset: str) -> AVASplit:
    base = os.path.join(datasets_root(), "ava")
    ann = os.path.join(base, "annotations")
    train_map, eval_map = _AVA_LABEL_MAPS[version]
    return AVASplit(
        name=f"ava_{version}_{subset}",
        frames_dir=os.path.join(base, "frames"),
        frame_list=os.path.join(base, "frame_lists", f"{subset}.csv"),
        annotations=os.path.join(ann, f"ava_{subset}_{version}.csv"),
        label_map=os.path.join(ann, train_map),
        eval_label_map=os.path.join(ann, eval_map),
        exclusions=os.path.join(ann, f"ava_{subset}_excluded_timestamps_{version}.csv"),
        num_actions=80,
        frames_per_video=AVA_FRAMES_PER_VIDEO,
    )


def _synthetic_split(subset: str) -> AVASplit:
    base = synthetic.ensure_synthetic(os.path.join(datasets_root(), "woo_synthetic"))
    return AVASplit(name=f"woo_synthetic_{subset}", all_key_frames=True,
                    frames_per_video=synthetic.frames_per_video(synthetic.SyntheticConfig()),
                    **synthetic.split_files(base, subset))


def _synthetic_tube_split(subset: str, stride: int, name: str) -> TubeSplit:
    base = synthetic_jhmdb.ensure_synthetic_jhmdb(os.path.join(datasets_root(), "woo_synthetic_jhmdb"))
    return TubeSplit(name=name, subset=subset, frame_stride=stride, **synthetic_jhmdb.split_files(base))


# name -> (factory of the split's files, evaluator type). The fixed splits below are registered
# into it like any other; register_dataset adds more.
_REGISTRY: Dict[str, Tuple[Callable[[], Split], str]] = {}


def register_dataset(name: str, split: Union[Split, Callable[[], Split]], *, evaluator_type: str = "") -> None:
    """Make split ``name`` known to both engines (``DATASETS.TRAIN`` / ``DATASETS.TEST``, detectron2's
    ``DatasetCatalog`` and ``MetadataCatalog`` through :mod:`woo.d2`).

    Args:
        name: the split's name in configs.
        split: its files: an :class:`AVASplit` (e.g. :func:`woo.data.prepared.prepared_split`) or a
            :class:`TubeSplit`, or a function returning one when first used (so that registering
            reads no file).
        evaluator_type: "ava" (frame-mAP@0.5) or "tube" (frame-mAP and video-mAP); default: the
            split's own, "ava" for a function.

    Raises:
        ValueError: for a name that is registered already, or an unknown evaluator type.
    """
    if name in _REGISTRY:
        raise ValueError(f"dataset {name!r} is registered already")
    factory = split if callable(split) else (lambda: split)
    kind = evaluator_type or getattr(split, "evaluator_type", "ava")
    if kind not in ("ava", "tube"):
        raise ValueError(f"dataset {name!r}: evaluator_type must be 'ava' or 'tube', got {kind!r}")
    _REGISTRY[name] = (factory, kind)


for _name, _factory in {
    **{f"ava_{v}_{s}": functools.partial(_ava_split, v, s) for v in ("v2.1", "v2.2") for s in ("train", "val")},
    **{f"woo_synthetic_{s}": functools.partial(_synthetic_split, s) for s in ("train", "val")},
}.items():
    register_dataset(_name, _factory, evaluator_type="ava")
for _name, _factory in {
    **tube_split_factories(datasets_root),
    **{name: functools.partial(_synthetic_tube_split, subset, stride, name)
       for name, subset, stride in split_names("woo_synthetic_jhmdb")},
}.items():
    register_dataset(_name, _factory, evaluator_type="tube")


def list_splits() -> List[str]:
    """Names registered (:func:`register_dataset`); a prepared set's ``PATH.yaml:SPLIT`` names are
    known without registering."""
    return list(_REGISTRY)


def _unknown(name: str) -> KeyError:
    return KeyError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)}, or PATH/dataset.yaml:SPLIT "
                    "of a set written by woo prepare")


def evaluator_type(name: str) -> str:
    """How split ``name`` is evaluated, without reading or generating a file: "ava"
    (frame-mAP@0.5) or "tube" (frame-mAP and video-mAP, JHMDB / UCF layout).

    Raises:
        KeyError: for an unknown name.
    """
    if name in _REGISTRY:
        return _REGISTRY[name][1]
    if is_prepared_name(name):
        return "ava"
    raise _unknown(name)


def get_split(name: str) -> Split:
    """Files of split ``name``: a registered one (a synthetic split is generated first when
    missing), or ``PATH.yaml:SPLIT`` of a set written by ``woo prepare``.

    Raises:
        KeyError: for an unknown name, listing the known ones.
    """
    if name in _REGISTRY:
        return _REGISTRY[name][0]()
    if is_prepared_name(name):
        return prepared_split(*parse_prepared_name(name), name=name)
    raise _unknown(name)


def load_dataset_dicts(name: str) -> KeyFrameRecords:
    """One record per key frame of split ``name`` (the contract of :mod:`woo.data.records`)."""
    split = get_split(name)
    return load_tube_records(split) if isinstance(split, TubeSplit) else load_ava_records(split)


def class_names(name: str, num_actions: int) -> List[str]:
    """Names of the ``num_actions`` action columns of split ``name`` (column j = action id j + 1).

    The synthetic AVA-layout splits use the generator's list (nothing is generated to
    name them); other AVA-layout splits read their label map; JHMDB / UCF-layout
    splits read their ground-truth pickle. An id without a name, or a missing file, is
    named ``action <id>`` with a warning that names the file.
    """
    names = {i: f"action {i}" for i in range(1, num_actions + 1)}
    if name.startswith("woo_synthetic_") and not name.startswith("woo_synthetic_jhmdb"):
        names.update(dict(synthetic.ACTIONS))
        return [names[i] for i in range(1, num_actions + 1)]
    split = get_split(name)
    source = split.groundtruth if isinstance(split, TubeSplit) else split.label_map
    if not os.path.isfile(source):
        logger.warning("%s of dataset %s not found; actions are shown by id", source, name)
    elif isinstance(split, TubeSplit):
        names.update({i + 1: label for i, label in enumerate(split.read_groundtruth().labels)})
    else:
        names.update({c["id"]: c["name"] for c in read_labelmap(source)[0]})
    unnamed = [i for i in range(1, num_actions + 1) if names[i] == f"action {i}"]
    if unnamed and os.path.isfile(source):
        logger.warning("%s names no action id %s of the %d actions; they are shown by id", source, unnamed,
                       num_actions)
    return [names[i] for i in range(1, num_actions + 1)]
