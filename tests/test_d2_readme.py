"""projects/WOO/README.md's "In your own code" snippet, run as written, then on the synthetic set."""
import glob
import os
import re

import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.data import DatasetCatalog  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import woo.d2  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVA_CONFIG = "configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml"


def _snippet():
    with open(os.path.join(REPO, "projects", "WOO", "README.md"), encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"In your own code:\s*```python\n(.*?)```", text, re.S)
    assert match, "projects/WOO/README.md has no 'In your own code:' Python block"
    return match.group(1)


def _run(code):
    namespace = {}
    exec(compile(code, "projects/WOO/README.md", "exec"), namespace)
    return namespace["cfg"]


def test_snippet_as_written(monkeypatch):
    monkeypatch.chdir(REPO)  # the snippet names the config from the repository's root
    snippet = _snippet()
    assert AVA_CONFIG in snippet and "detectron2.config import get_cfg" in snippet
    cfg = _run(snippet)
    assert cfg.MODEL.META_ARCHITECTURE == "WOO" and cfg.INPUT.NUM_FRAMES == 32
    assert cfg.INPUT.FORMAT == "RGB"  # WOO's configs say so; detectron2's default is BGR
    woo.d2.ClipDatasetMapper(cfg, is_train=True)  # accepted


@pytest.mark.parametrize("image_format", ["RGB", "BGR"])
def test_snippet_trains_a_step_on_the_synthetic_set(woo_datasets, monkeypatch, image_format):
    """The snippet with the instant config, one training step through detectron2's loader and model;
    with INPUT.FORMAT "BGR" (detectron2's default) the mapper gives BGR clips."""
    monkeypatch.chdir(REPO)
    snippet = _snippet().replace(AVA_CONFIG, "configs/Synthetic/WOO_Instant.yaml")
    as_written, cfg = _run(snippet), _run(snippet)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "INPUT.FORMAT", image_format])
    record = DatasetCatalog.get("woo_synthetic_val")[0]
    clip = woo.d2.ClipDatasetMapper(cfg, is_train=False)(record)["clip"]
    rgb = woo.d2.ClipDatasetMapper(as_written, is_train=False)(record)["clip"]
    assert torch.equal(clip, rgb if image_format == "RGB" else rgb.flip(0))
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = next(iter(woo.d2.build_clip_train_loader(cfg)))
    losses = model(batch)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


CONFIGS = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
                 if not os.path.basename(p).startswith("Base-"))


@pytest.mark.parametrize("path", CONFIGS)
def test_every_config_means_the_same_with_detectron2s_get_cfg(path):
    """The snippet's route (detectron2's defaults, WOO's keys added) gives woo.d2.get_cfg()'s config."""
    from detectron2.config import get_cfg

    from woo.config import add_woo_config

    ours = woo.d2.get_cfg()
    ours.merge_from_file(os.path.join(REPO, path))
    theirs = get_cfg()
    add_woo_config(theirs)
    theirs.merge_from_file(os.path.join(REPO, path))
    assert dict(_leaves(theirs)) == dict(_leaves(ours))
