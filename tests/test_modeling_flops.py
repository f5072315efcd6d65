"""``woo flops`` on a tiny config."""
import json

import pytest
import torch
from fvcore.nn import FlopCountAnalysis

from woo.cli import main as woo_main
from woo.config import get_cfg
from woo.modeling import build_model
from woo.modeling.flops import count_flops

TINY = {
    "MODEL.DEVICE": "cpu",
    "MODEL.VIDEO_RESNET.DEPTH": 0, "MODEL.VIDEO_RESNET.STAGE_DEPTHS": [1, 1, 1, 1],
    "MODEL.VIDEO_RESNET.STEM_CHANNELS": 8, "MODEL.FPN.OUT_CHANNELS": 32,
    "MODEL.WOO.HIDDEN_DIM": 32, "MODEL.WOO.NUM_PROPOSALS": 8, "MODEL.WOO.NUM_STAGES": 2,
    "MODEL.WOO.DIM_FEEDFORWARD": 64, "MODEL.WOO.NUM_HEADS": 4, "MODEL.WOO.DIM_DYNAMIC": 8,
    "INPUT.NUM_FRAMES": 8,
}


def test_flops_command_writes_json(tmp_path, capsys):
    cfg = get_cfg()
    cfg.merge_from_list([x for kv in TINY.items() for x in kv])
    (tmp_path / "tiny.yaml").write_text(cfg.dump())
    out = tmp_path / "flops.json"
    rc = woo_main(["flops", "--config-file", str(tmp_path / "tiny.yaml"), "--input-size", "64", "96",
                   "--json", str(out), "MODEL.WOO.ACTION_FUSION", "sum"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["input_size"] == [64, 96] and result["num_frames"] == 8
    assert result["gflops"] > 0 and result["params_m"] > 0
    assert sum(result["by_module"].values()) == pytest.approx(result["gflops"], rel=1e-6)
    assert "GFLOPs" in capsys.readouterr().out


def test_backbone_share_matches_a_direct_count():
    cfg = get_cfg()
    cfg.merge_from_list([x for kv in TINY.items() for x in kv])
    model = build_model(cfg)
    result = count_flops(model, 8, 64, 96)
    direct = FlopCountAnalysis(model.backbone.eval(), (torch.zeros(1, 3, 8, 64, 96),))
    direct.unsupported_ops_warnings(False)
    by_module = result["by_module"]
    assert sorted(by_module) == ["backbone.bottom_up", "backbone.fpn", "roi_heads.action_head", "roi_heads.actor_head"]
    backbone = by_module["backbone.bottom_up"] + by_module["backbone.fpn"]
    assert backbone == pytest.approx(direct.total() / 1e9, rel=1e-6)
    # fvcore's attention formulas are ours: the attention kernels must be counted
    assert not any("attention" in op for op in result["uncounted_ops"])
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert result["params_m"] == pytest.approx(params)
