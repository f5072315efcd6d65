"""Configuration: defaults, _BASE_ inheritance, every shipped YAML, and key errors."""
import glob
import os

import pytest

from woo.config import add_woo_config, get_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True))


def test_defaults_follow_the_paper():
    cfg = get_cfg()
    assert cfg.MODEL.META_ARCHITECTURE == "WOO"
    assert cfg.MODEL.WOO.NUM_PROPOSALS == 100
    assert cfg.MODEL.WOO.NUM_STAGES == 6
    assert (cfg.MODEL.WOO.CLASS_WEIGHT, cfg.MODEL.WOO.L1_WEIGHT) == (2.0, 5.0)
    assert (cfg.MODEL.WOO.GIOU_WEIGHT, cfg.MODEL.WOO.ACTION_WEIGHT) == (2.0, 4.0)
    assert cfg.MODEL.WOO.SCORE_THRESH_TEST == 0.7
    assert cfg.MODEL.WOO.ACTION_FUSION == "cross_attention"
    assert cfg.SOLVER.WARMUP_FACTOR == 1e-3 and cfg.SOLVER.WARMUP_ITERS == 1000


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.relpath(p, REPO) for p in CONFIGS])
def test_every_shipped_config_merges(path):
    cfg = get_cfg()
    cfg.merge_from_file(path)
    assert cfg.MODEL.META_ARCHITECTURE == "WOO"
    assert cfg.DATASETS.TRAIN and cfg.DATASETS.TEST


def test_base_inheritance_and_override():
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "AVA-v2.2", "WOO_SlowOnly_R50_4x16_noFPN.yaml"))
    # from the file itself
    assert cfg.MODEL.WOO.USE_FPN is False and cfg.MODEL.VIDEO_RESNET.RES5_DILATION == 2
    # from its base, and from the base's base
    assert cfg.MODEL.VIDEO_RESNET.ARCH == "slow" and cfg.INPUT.NUM_FRAMES == 4
    assert cfg.SOLVER.BASE_LR == 2.5e-5 and (cfg.SOLVER.MAX_EPOCHS, cfg.SOLVER.STEPS_EPOCHS) == (12, (6, 10))


def test_misspelt_key_in_file_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  WOO:\n    NUM_PROPOSAL: 50\n")
    cfg = get_cfg()
    with pytest.raises(KeyError, match=r"MODEL\.WOO\.NUM_PROPOSAL") as info:
        cfg.merge_from_file(str(bad))
    assert "bad.yaml" in str(info.value)


def test_misspelt_key_in_overrides_names_key():
    cfg = get_cfg()
    with pytest.raises(KeyError, match=r"SOLVER\.BASE_LRR"):
        cfg.merge_from_list(["SOLVER.BASE_LRR", "0.1"])
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        cfg.merge_from_list(["SOLVER.BASE_LR"])
    cfg.merge_from_list(["SOLVER.BASE_LR", "0.5", "MODEL.WOO.USE_FPN", "False"])
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.MODEL.WOO.USE_FPN is False


def test_wrong_value_type_is_an_error():
    cfg = get_cfg()
    with pytest.raises(ValueError, match="NUM_PROPOSALS"):
        cfg.merge_from_list(["MODEL.WOO.NUM_PROPOSALS", "'many'"])


def test_every_key_has_a_comment():
    """Each leaf assignment in config.py is preceded by a one-line comment."""
    import woo.config as module

    lines = open(module.__file__, encoding="utf-8").read().splitlines()
    missing = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("_C.") and "=" in stripped and "CfgNode()" not in stripped and "CN()" not in stripped:
            if stripped.startswith("_C.VERSION"):
                continue
            if not lines[i - 1].strip().startswith("#"):
                missing.append(stripped)
    assert not missing, f"keys without a comment: {missing}"


def test_add_woo_config_on_a_foreign_cfgnode():
    """add_woo_config only adds keys, so it works on any CfgNode (detectron2's included)."""
    from fvcore.common.config import CfgNode

    cfg = CfgNode()
    cfg.MODEL = CfgNode()
    cfg.INPUT = CfgNode()
    cfg.SOLVER = CfgNode()
    add_woo_config(cfg)
    assert cfg.MODEL.WOO.NUM_ACTIONS == 80 and cfg.INPUT.NUM_FRAMES == 32


def test_import_woo_does_not_import_detectron2():
    import subprocess
    import sys

    code = (
        "import sys, woo, woo.config, woo.cli, woo.modeling, woo.data.build, woo.data.synthetic, "
        "woo.evaluation, woo.engine.launch, woo.engine.trainer; assert 'detectron2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
