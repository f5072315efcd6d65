"""Kinetics initialization from PySlowFast's Caffe2 ``.pkl`` checkpoints and the 90% rule.

The tests write the checkpoints themselves: every tensor of the real backbones
(SlowOnly R50 4x16, SlowFast R50 8x8) under its Caffe2 blob name, the names spelled
out here from PySlowFast's Caffe2 scheme, independently of the loader's mapping.
"""
import os
import pickle

import numpy as np
import pytest
import torch
from test_engine_train import INSTANT, NO_EVAL, train

import woo.config
from woo.modeling import VideoResNet, load_kinetics_backbone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOWONLY = os.path.join(REPO, "configs", "AVA-v2.2", "WOO_SlowOnly_R50_4x16.yaml")
SLOWFAST = os.path.join(REPO, "configs", "AVA-v2.2", "WOO_SlowFast_R50_8x8.yaml")
BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
# Caffe2 branch -> (our conv, our norm) inside a res block.
BRANCHES = {
    "branch2a": ("branch2.conv_a", "branch2.norm_a"),
    "branch2b": ("branch2.conv_b", "branch2.norm_b"),
    "branch2c": ("branch2.conv_c", "branch2.norm_c"),
    "branch1": ("branch1_conv", "branch1_norm"),  # the projection shortcut, block 0 only
}
# What a Caffe2 Kinetics file holds beside the backbone: classifier and non-local blocks.
NOT_BACKBONE = {
    "pred_w": (400, 2304),
    "pred_b": (400,),
    "nonlocal_conv3_1_theta_w": (256, 512, 1, 1, 1),
    "nonlocal_conv3_1_theta_b": (256,),
    "nonlocal_conv3_1_out_w": (512, 256, 1, 1, 1),
    "nonlocal_conv3_1_bn_s": (512,),
    "nonlocal_conv3_1_bn_riv": (512,),
}
COUNTERS = ["lr", "model_iter"]
PAYLOAD_CALLS = []


def record_call(*args):
    """What a malicious pickle calls in one test; the list shows whether it ran."""
    PAYLOAD_CALLS.append(args)


def config(path):
    cfg = woo.config.get_cfg()
    cfg.merge_from_file(path)
    return cfg


def backbone(cfg):
    torch.manual_seed(0)
    return VideoResNet(**VideoResNet.from_config(cfg))


def caffe2_names(stage_depths, slowfast):
    """Caffe2 blob name -> our backbone key, for every weight and BN statistic."""
    names = {}
    for prefix, pathway in ([("", 0), ("t_", 1)] if slowfast else [("", None)]):
        def block(idx):  # blocks.0 is the stem, blocks.1..4 are res2..res5
            return f"blocks.{idx}" + (f".multipathway_blocks.{pathway}" if slowfast else "")

        names[f"{prefix}conv1_w"] = f"{block(0)}.conv.weight"
        names.update({f"{prefix}res_conv1_bn_{c2}": f"{block(0)}.norm.{ours}" for c2, ours in BN.items()})
        for stage, depth in zip(range(2, 6), stage_depths):
            for i in range(depth):
                for branch, (conv, norm) in BRANCHES.items():
                    if branch == "branch1" and i > 0:
                        continue
                    c2 = f"{prefix}res{stage}_{i}_{branch}"
                    ours = f"{block(stage - 1)}.res_blocks.{i}"
                    names[f"{c2}_w"] = f"{ours}.{conv}.weight"
                    names.update({f"{c2}_bn_{s}": f"{ours}.{norm}.{bn}" for s, bn in BN.items()})
    if slowfast:
        # The fast-to-slow laterals after the stem, res2, res3 and res4, named after the
        # fast layer they read (a stage's last block).
        laterals = {0: "t_pool1_subsample"}
        laterals.update({stage - 1: f"t_res{stage}_{depth - 1}_branch2c_bn_subsample"
                         for stage, depth in zip(range(2, 5), stage_depths)})
        for idx, c2 in laterals.items():
            names[f"{c2}_w"] = f"blocks.{idx}.multipathway_fusion.conv_fast_to_slow.weight"
            names.update({f"{c2}_bn_{s}": f"blocks.{idx}.multipathway_fusion.norm.{bn}" for s, bn in BN.items()})
    return names


def random_blobs(model, names, seed):
    state = model.state_dict()
    # The scheme names every backbone tensor (BN's step counters are no weights).
    assert sorted(names.values()) == sorted(k for k in state if not k.endswith("num_batches_tracked"))
    rng = np.random.default_rng(seed)
    blobs = {}
    for c2, key in names.items():
        value = rng.standard_normal(state[key].shape, dtype=np.float32)
        blobs[c2] = np.abs(value) + 0.5 if key.endswith("running_var") else value
    return blobs


def write_pkl(path, blobs, protocol=2):
    """As Caffe2 wrote them: a protocol-2 pickle of {"blobs": ...} beside other keys."""
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs, "note": "written by the test"}, f, protocol=protocol)
    return str(path)


def with_training_state(blobs):
    full = dict(blobs)
    # Caffe2 keeps one momentum blob per weight; only the name matters for skipping it.
    full.update({f"{name}_momentum": np.zeros(1, np.float32) for name in blobs})
    full.update(lr=np.array([0.1], np.float32), model_iter=np.array([239_000], np.int64))
    full.update({name: np.ones(shape, np.float32) for name, shape in NOT_BACKBONE.items()})
    return full


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Per architecture: config, blob names and values, and the .pkl holding them."""
    folder = tmp_path_factory.mktemp("caffe2")
    out = {}
    for arch, path, seed in (("slowonly", SLOWONLY, 1), ("slowfast", SLOWFAST, 2)):
        cfg = config(path)
        names = caffe2_names(VideoResNet.from_config(cfg)["stage_depths"], arch == "slowfast")
        blobs = random_blobs(backbone(cfg), names, seed)
        pkl = write_pkl(folder / f"{arch.upper()}_R50.pkl", with_training_state(blobs))
        out[arch] = dict(cfg=cfg, names=names, blobs=blobs, pkl=pkl)
    return out


def test_real_blob_names():
    names = caffe2_names((3, 4, 6, 3), slowfast=True)
    for name in ("conv1_w", "res_conv1_bn_s", "res2_0_branch2a_w", "res4_4_branch2c_bn_rm", "res3_0_branch1_w",
                 "t_res2_0_branch2a_w", "t_conv1_w", "t_res_conv1_bn_riv", "t_pool1_subsample_w",
                 "t_res4_5_branch2c_bn_subsample_bn_riv", "t_res2_2_branch2c_bn_subsample_w"):
        assert name in names, name
    assert names["t_res3_3_branch2c_bn_subsample_w"] == "blocks.2.multipathway_fusion.conv_fast_to_slow.weight"
    assert names["res5_2_branch2c_bn_b"] == "blocks.4.multipathway_blocks.0.res_blocks.2.branch2.norm_c.bias"


@pytest.mark.parametrize("arch", ["slowonly", "slowfast"])
def test_caffe2_pkl_loads_every_tensor(checkpoints, arch):
    ckpt = checkpoints[arch]
    model = backbone(ckpt["cfg"])
    report = load_kinetics_backbone(model, ckpt["pkl"])
    state = model.state_dict()
    for c2, key in ckpt["names"].items():
        assert torch.equal(state[key], torch.from_numpy(ckpt["blobs"][c2])), (c2, key)
    assert report.format == "caffe2"
    assert sorted(report.matched) == sorted(ckpt["names"].values())
    assert report.missing == [] and report.shape_mismatched == [] and report.reshaped == []
    assert sorted(report.unexpected) == sorted(NOT_BACKBONE)
    assert sorted(report.skipped) == sorted([f"{n}_momentum" for n in ckpt["blobs"]] + COUNTERS)
    assert report.tensor_fraction == 1.0 and report.element_fraction == 1.0
    assert f"{len(ckpt['names'])} matched (100.0% of the backbone's tensors" in report.summary()


def test_fast_pathway_blobs_have_no_place_in_slowonly(checkpoints, caplog):
    """SlowFast blobs into SlowOnly: the slow pathway's names exist there, but its first
    block of every stage is wider (the laterals' channels), the fast blobs go nowhere."""
    model = backbone(checkpoints["slowonly"]["cfg"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = checkpoints["slowfast"]["pkl"]
    with pytest.raises(ValueError) as error:
        load_kinetics_backbone(model, path)
    message = str(error.value)
    assert message.startswith(f"{path} (caffe2): ") and "\n" not in message
    assert "not a checkpoint of this backbone" in message and "shape-mismatched (e.g. blocks.1.res_blocks.0" in message
    assert "unexpected (e.g. t_conv1_w, t_res_conv1_bn_s" in message
    for key, value in model.state_dict().items():  # nothing was loaded
        assert torch.equal(value, before[key]), key


def test_slowonly_blobs_into_slowfast_and_half_a_checkpoint_are_errors(checkpoints, tmp_path):
    slowfast = backbone(checkpoints["slowfast"]["cfg"])
    with pytest.raises(ValueError, match=r"SLOWONLY_R50\.pkl \(caffe2\): .* missing \(e\.g\. blocks\.0\."):
        load_kinetics_backbone(slowfast, checkpoints["slowonly"]["pkl"])
    blobs = checkpoints["slowonly"]["blobs"]
    half = write_pkl(tmp_path / "half.pkl", {k: v for i, (k, v) in enumerate(blobs.items()) if i % 2})
    with pytest.raises(ValueError, match=r"half\.pkl \(caffe2\): .* less than 90% of the backbone's tensors"):
        load_kinetics_backbone(backbone(checkpoints["slowonly"]["cfg"]), half)


def tiny_slowfast():
    torch.manual_seed(0)
    model = VideoResNet(arch="slowfast", stage_depths=(2, 1, 1, 1), stem_channels=8)
    return model, caffe2_names((2, 1, 1, 1), slowfast=True)


def test_unit_dims_are_reshaped_other_shapes_are_not_loaded(tmp_path):
    model, names = tiny_slowfast()
    blobs = random_blobs(model, names, 3)
    blobs["res2_0_branch2c_w"] = blobs["res2_0_branch2c_w"].reshape(32, 8)  # (32, 8, 1, 1, 1) in the model
    blobs["res_conv1_bn_s"] = blobs["res_conv1_bn_s"].reshape(1, 8, 1)
    blobs["t_conv1_w"] = np.zeros((1, 3, 3, 7, 7), np.float32)  # the model's temporal kernel is 5
    before = model.state_dict()["blocks.0.multipathway_blocks.1.conv.weight"].clone()
    report = load_kinetics_backbone(model, write_pkl(tmp_path / "c2.pkl", blobs, protocol=4))
    state = model.state_dict()
    assert sorted(report.reshaped) == ["blocks.0.multipathway_blocks.0.norm.weight",
                                       "blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_c.weight"]
    assert torch.equal(state[names["res2_0_branch2c_w"]].flatten(), torch.from_numpy(blobs["res2_0_branch2c_w"]).flatten())
    assert torch.equal(state[names["res_conv1_bn_s"]], torch.from_numpy(blobs["res_conv1_bn_s"]).flatten())
    assert report.shape_mismatched == [("blocks.0.multipathway_blocks.1.conv.weight", (1, 3, 3, 7, 7), (1, 3, 5, 7, 7))]
    assert torch.equal(state["blocks.0.multipathway_blocks.1.conv.weight"], before)


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Record:
    def __reduce__(self):
        return (record_call, ("the payload ran",))


@pytest.mark.parametrize("payload", ["os.system", "record_call"])
def test_a_pickle_that_calls_a_function_is_refused_before_it_runs(tmp_path, payload):
    model, names = tiny_slowfast()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    blobs = random_blobs(model, names, 4)
    marker = tmp_path / "touched"
    evil = _System(f"touch '{marker}'") if payload == "os.system" else _Record()
    blobs["res2_0_branch2a_w"] = evil
    path = write_pkl(tmp_path / "evil.pkl", blobs)
    PAYLOAD_CALLS.clear()
    with pytest.raises(ValueError) as error:
        load_kinetics_backbone(model, path)
    message = str(error.value)
    refused = "posix.system" if payload == "os.system" else f"{__name__}.record_call"
    assert message == (f"{path}: not a readable Caffe2 checkpoint (global {refused} is not allowed: "
                       "the file may hold only numpy arrays and plain containers)")
    assert not marker.exists() and PAYLOAD_CALLS == []
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # The payload is live: pickle's general loader runs it.
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists() if payload == "os.system" else PAYLOAD_CALLS == [("the payload ran",)]


def test_not_a_caffe2_checkpoint(tmp_path):
    model, _ = tiny_slowfast()
    path = tmp_path / "weights.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model_state": {}}, f, protocol=2)
    with pytest.raises(ValueError, match=r"weights\.pkl: not a Caffe2 checkpoint: expected a dict with 'blobs'"):
        load_kinetics_backbone(model, str(path))
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": "text"}}, f, protocol=2)
    with pytest.raises(ValueError, match=r"weights\.pkl: blob 'conv1_w' is a str, not an array"):
        load_kinetics_backbone(model, str(path))


@pytest.mark.parametrize("fmt", ["pytorchvideo", "pyslowfast"])
def test_the_90_percent_rule_holds_for_pytorch_checkpoints_too(tmp_path, fmt):
    model, names = tiny_slowfast()
    state = model.state_dict()
    if fmt == "pyslowfast":  # PySlowFast's PyTorch names for the stem alone: most of the backbone is missing
        kept = {"s1.pathway0_stem.conv.weight": state["blocks.0.multipathway_blocks.0.conv.weight"]}
    else:  # a SlowOnly checkpoint for a SlowFast backbone
        torch.manual_seed(0)
        kept = VideoResNet(arch="slow", stage_depths=(2, 1, 1, 1), stem_channels=8).state_dict()
    path = tmp_path / f"{fmt}.pyth"
    torch.save({"model_state": kept}, path)
    with pytest.raises(ValueError, match=rf"{fmt}\.pyth \({fmt}\): .* less than 90% of the backbone's tensors"):
        load_kinetics_backbone(model, str(path))


@pytest.mark.usefixtures("woo_datasets")
def test_woo_train_reads_a_caffe2_pkl_and_refuses_a_bad_one(tmp_path, capsys):
    cfg = config(INSTANT)
    names = caffe2_names(VideoResNet.from_config(cfg)["stage_depths"], slowfast=True)
    blobs = random_blobs(backbone(cfg), names, 5)
    good = write_pkl(tmp_path / "instant.pkl", with_training_state(blobs))
    assert train(tmp_path / "ok", "MODEL.VIDEO_RESNET.PRETRAINED", good, "SOLVER.MAX_ITER", "1", *NO_EVAL) == 0
    log = (tmp_path / "ok" / "log.txt").read_text()
    assert f"Kinetics init: {good} (caffe2): {len(names)} matched (100.0% of the backbone's tensors" in log

    half = write_pkl(tmp_path / "half.pkl", dict(list(blobs.items())[: len(blobs) // 2]))
    blobs["conv1_w"] = _System(f"touch '{tmp_path / 'touched'}'")
    evil = write_pkl(tmp_path / "evil.pkl", blobs)
    for bad, reason in ((half, "less than 90% of the backbone's tensors"), (evil, "global posix.system is not allowed")):
        capsys.readouterr()
        assert train(tmp_path / "bad", "MODEL.VIDEO_RESNET.PRETRAINED", bad, "SOLVER.MAX_ITER", "1", *NO_EVAL) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"woo train: error: {bad}") and reason in err, err
    assert not (tmp_path / "touched").exists()
