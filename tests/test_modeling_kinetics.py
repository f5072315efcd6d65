"""Kinetics initialization from pytorchvideo- and PySlowFast-format checkpoints the tests write."""
import re

import pytest
import torch

from woo.modeling import VideoResNet, load_kinetics_backbone
from woo.modeling.kinetics_init import pyslowfast_to_pytorchvideo


def tiny_backbone(arch, seed):
    torch.manual_seed(seed)
    bb = VideoResNet(arch=arch, stage_depths=(2, 1, 1, 1), stem_channels=8)
    for m in bb.modules():  # non-default BN statistics, so copying them is visible
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_()
            m.running_var.uniform_(0.5, 1.5)
    return bb


def to_pyslowfast(key):
    """Our (pytorchvideo) name -> PySlowFast name, written independently of the loader."""
    conv = {"branch1_conv": "branch1", "branch1_norm": "branch1_bn"}
    conv.update({f"branch2.conv_{c}": f"branch2.{c}" for c in "abc"})
    conv.update({f"branch2.norm_{c}": f"branch2.{c}_bn" for c in "abc"})
    m = re.match(r"blocks\.(\d)\.(?:multipathway_blocks\.(\d)\.)?(.*)$", key)
    stage, pathway, rest = int(m.group(1)), m.group(2) or "0", m.group(3)
    f = re.match(r"blocks\.(\d)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(.*)$", key)
    if f:
        return f"s{stage + 1}_fuse.{'conv_f2s' if f.group(2) == 'conv_fast_to_slow' else 'bn'}.{f.group(3)}"
    if stage == 0:
        layer, attr = rest.split(".", 1)
        return f"s1.pathway{pathway}_stem.{'conv' if layer == 'conv' else 'bn'}.{attr}"
    r = re.match(r"res_blocks\.(\d+)\.(branch1_conv|branch1_norm|branch2\.\w+_\w)\.(.*)$", rest)
    return f"s{stage + 1}.pathway{pathway}_res{r.group(1)}.{conv[r.group(2)]}.{r.group(3)}"


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("arch", ["slow", "slowfast"])
def test_pytorchvideo_checkpoint(tmp_path, arch):
    src, dst = tiny_backbone(arch, 1), tiny_backbone(arch, 2)
    head = "blocks.6.proj.weight" if arch == "slowfast" else "blocks.5.proj.weight"
    state = dict(src.state_dict(), **{head: torch.zeros(400, 288)})
    torch.save({"model_state": state}, tmp_path / "k400.pyth")

    class Model(torch.nn.Module):  # load_kinetics_backbone looks for .backbone
        def __init__(self):
            super().__init__()
            self.backbone = dst

    report = load_kinetics_backbone(Model(), str(tmp_path / "k400.pyth"))
    assert report.format == "pytorchvideo"
    assert sorted(report.matched) == sorted(src.state_dict())
    assert report.unexpected == [head] and report.missing == [] and report.shape_mismatched == []
    assert_same_state(src, dst)


@pytest.mark.parametrize("arch", ["slow", "slowfast"])
def test_pyslowfast_checkpoint(tmp_path, arch):
    src, dst = tiny_backbone(arch, 1), tiny_backbone(arch, 2)
    state = {to_pyslowfast(k): v for k, v in src.state_dict().items()}
    if arch == "slowfast":
        assert "s1_fuse.conv_f2s.weight" in state and "s2.pathway1_res0.branch2.a.weight" in state
    assert "s1.pathway0_stem.conv.weight" in state and "s2.pathway0_res1.branch2.c_bn.bias" in state
    for k in state:  # the loader's mapping inverts ours
        assert to_pyslowfast(pyslowfast_to_pytorchvideo(k, arch == "slowfast")) == k
    state["head.projection.weight"] = torch.zeros(400, 288)
    torch.save({"model_state": state, "epoch": 196}, tmp_path / "SLOWFAST.pyth")
    report = load_kinetics_backbone(dst, str(tmp_path / "SLOWFAST.pyth"))
    assert report.format == "pyslowfast"
    assert len(report.matched) == len(src.state_dict())
    assert report.unexpected == ["head.projection.weight"] and report.missing == []
    assert_same_state(src, dst)


def test_missing_and_shape_mismatched_keys_are_reported_not_loaded(tmp_path):
    src, dst = tiny_backbone("slowfast", 1), tiny_backbone("slowfast", 2)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    state = src.state_dict()
    dropped = "blocks.4.multipathway_blocks.0.res_blocks.0.branch2.conv_c.weight"
    bad = "blocks.0.multipathway_blocks.1.conv.weight"
    del state[dropped]
    state[bad] = torch.zeros(3, 3)
    torch.save({"state_dict": state}, tmp_path / "partial.pt")
    report = load_kinetics_backbone(dst, str(tmp_path / "partial.pt"))
    assert report.missing == [dropped]
    assert report.shape_mismatched == [(bad, (3, 3), tuple(before[bad].shape))]
    after = dst.state_dict()
    assert torch.equal(after[dropped], before[dropped]) and torch.equal(after[bad], before[bad])
    assert "1 missing" in report.summary() and "1 shape-mismatched" in report.summary()


def test_not_a_state_dict(tmp_path):
    torch.save({"model_state": {"a": 1}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt"):
        load_kinetics_backbone(tiny_backbone("slow", 0), str(tmp_path / "bad.pt"))
