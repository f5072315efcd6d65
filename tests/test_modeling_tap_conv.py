"""The stems' TapConv3d: the 2D form over temporal taps equals nn.Conv3d, values and gradients."""
import pytest
import torch
import torch.nn.functional as F

from woo.modeling.backbone import VideoResNet
from woo.modeling.tap_conv import TapConv3d, conv3d_by_temporal_taps


@pytest.mark.parametrize("kernel,stride,padding,bias", [
    ((5, 7, 7), (1, 2, 2), (2, 3, 3), False),  # the fast pathway's stem
    ((3, 3, 3), (1, 1, 1), (1, 1, 1), True),
    ((3, 1, 1), (1, 1, 1), (0, 0, 0), True),  # no temporal padding: fewer output frames
    ((2, 3, 3), (1, 2, 1), (1, 0, 1), False),  # even kernel: one frame more
])
def test_taps_equal_conv3d_and_its_gradients(kernel, stride, padding, bias):
    generator = torch.Generator().manual_seed(0)
    clip = torch.randn(2, 3, 6, 17, 20, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, *kernel, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=generator, dtype=torch.float64, requires_grad=True) if bias else None
    expected = F.conv3d(clip, weight, b, stride, padding)
    got = conv3d_by_temporal_taps(clip, weight, b, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)
    upstream = torch.randn(expected.shape, generator=generator, dtype=torch.float64)
    inputs = [clip, weight] + ([b] if bias else [])
    grads_expected = torch.autograd.grad(expected, inputs, upstream)
    grads_got = torch.autograd.grad(got, inputs, upstream)
    for g_got, g_expected in zip(grads_got, grads_expected):
        torch.testing.assert_close(g_got, g_expected)


def test_tap_conv_module_uses_the_2d_form_only_when_training_small_stems_on_cpu(monkeypatch):
    calls = []
    import woo.modeling.tap_conv as tap_conv

    real = tap_conv.conv3d_by_temporal_taps
    monkeypatch.setattr(tap_conv, "conv3d_by_temporal_taps", lambda *a: calls.append(1) or real(*a))
    small = TapConv3d(3, 4, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
    clip = torch.randn(1, 3, 4, 16, 16)
    reference = F.conv3d(clip, small.weight, None, (1, 2, 2), (2, 3, 3))
    torch.testing.assert_close(small(clip), reference, rtol=1e-4, atol=1e-4)
    assert calls == [1]
    with torch.no_grad():
        torch.testing.assert_close(small(clip), reference)
    small.eval()
    torch.testing.assert_close(small(clip), reference)
    assert calls == [1], "inference must run nn.Conv3d"
    wide = TapConv3d(3, 16, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)  # 80 stacked channels
    strided = TapConv3d(3, 4, (3, 7, 7), stride=(2, 2, 2), padding=(1, 3, 3))
    spatial = TapConv3d(3, 4, (1, 7, 7), padding=(0, 3, 3))
    assert not any(m.use_taps for m in (wide, strided, spatial))
    wide(clip)
    assert calls == [1]


def test_slowfast_stems_keep_conv3d_parameters_and_state_dict_keys():
    backbone = VideoResNet(arch="slowfast", stage_depths=(1, 1, 1, 1), stem_channels=16, beta_inv=4)
    slow_stem, fast_stem = (backbone.blocks[0].multipathway_blocks[i].conv for i in (0, 1))
    assert isinstance(slow_stem, TapConv3d) and not slow_stem.use_taps  # 1x7x7
    assert fast_stem.use_taps and fast_stem.weight.shape == (4, 3, 5, 7, 7)
    assert "blocks.0.multipathway_blocks.1.conv.weight" in backbone.state_dict()
