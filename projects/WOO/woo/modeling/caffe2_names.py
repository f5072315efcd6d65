"""Caffe2 blob names of PySlowFast's ResNet / SlowFast -> PySlowFast's PyTorch names.

The scheme, as PySlowFast's Caffe2 loader reads it:

* ``t_`` begins every blob of the fast pathway (pathway 1); the slow one has no prefix;
* stem: ``conv1_w`` and ``res_conv1_bn_*`` -> ``s1.pathway{p}_stem.conv`` / ``.bn``;
* res stages: ``res{S}_{i}_branch1_*`` (the projection shortcut) and
  ``res{S}_{i}_branch2{a,b,c}_*`` -> ``s{S}.pathway{p}_res{i}.branch1`` / ``.branch2.{a,b,c}``,
  ``S`` = 2..5 as in PySlowFast (whose ``s{S}`` is pytorchvideo's ``blocks.{S-1}``);
* fast-to-slow fusion, named after the fast layer it reads: ``t_pool1_subsample_*``
  after the stem -> ``s1_fuse``, ``t_res{S}_{i}_branch2c_bn_subsample_*`` after stage S
  (``i`` its last block) -> ``s{S}_fuse``; ``..._subsample_w`` is the conv
  (``conv_f2s``), ``..._subsample_bn_*`` its BN (``bn``);
* suffixes: ``_w`` weight, ``_b`` bias; after ``_bn``: ``_s`` scale (weight),
  ``_b`` bias, ``_rm`` running mean, ``_riv`` running variance.

Other blobs (the classifier ``pred_*``, non-local blocks ``nonlocal_conv{S}_{i}_*``)
have no name here.
"""
import re
from typing import Optional

__all__ = ["caffe2_to_pyslowfast"]

_PARAM = {"w": "weight", "b": "bias"}
_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_BRANCH = {"1": "branch1", "2a": "branch2.a", "2b": "branch2.b", "2c": "branch2.c"}

# (pattern, PySlowFast name) pairs. Each pattern ends in the suffix, so the fusion blobs
# (``..._branch2c_bn_subsample_...``) match no res-block pattern. Groups: t (fast
# pathway), s (stage), i (block), br (branch), w (param), bn (BN param).
_RULE_TEXTS = [
    (r"(?P<t>t_)?conv1_(?P<w>w|b)", "s1.pathway{p}_stem.conv.{w}"),
    (r"(?P<t>t_)?res_conv1_bn_(?P<bn>s|b|rm|riv)", "s1.pathway{p}_stem.bn.{bn}"),
    (r"(?P<t>t_)?res(?P<s>[2-5])_(?P<i>\d+)_branch(?P<br>1|2a|2b|2c)_(?P<w>w|b)", "s{s}.pathway{p}_res{i}.{br}.{w}"),
    (r"(?P<t>t_)?res(?P<s>[2-5])_(?P<i>\d+)_branch(?P<br>1|2a|2b|2c)_bn_(?P<bn>s|b|rm|riv)",
     "s{s}.pathway{p}_res{i}.{br}_bn.{bn}"),
    (r"t_(?:pool1|res(?P<s>[2-4])_\d+_branch2c_bn)_subsample_(?P<w>w|b)", "s{s}_fuse.conv_f2s.{w}"),
    (r"t_(?:pool1|res(?P<s>[2-4])_\d+_branch2c_bn)_subsample_bn_(?P<bn>s|b|rm|riv)", "s{s}_fuse.bn.{bn}"),
]
_RULES = [(re.compile(f"^{pattern}$"), name) for pattern, name in _RULE_TEXTS]


def caffe2_to_pyslowfast(name: str) -> Optional[str]:
    """Caffe2 blob name -> PySlowFast PyTorch parameter name, None if it has none.

    Args:
        name: e.g. "res4_4_branch2c_bn_rm" -> "s4.pathway0_res4.branch2.c_bn.running_mean",
            "t_pool1_subsample_w" -> "s1_fuse.conv_f2s.weight".
    """
    for pattern, template in _RULES:
        m = pattern.match(name)
        if m:
            g = m.groupdict()
            return template.format(
                p=int(g.get("t") is not None),
                s=g.get("s") or 1,  # the fusion after the stem is PySlowFast's s1_fuse
                i=g.get("i"),
                br=_BRANCH.get(g.get("br")),
                w=_PARAM.get(g.get("w")),
                bn=_BN.get(g.get("bn")),
            )
    return None
