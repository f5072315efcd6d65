"""Clip sampling at video edges, box transforms and the clip mapper."""
import cv2
import numpy as np
import pytest
import torch

from woo.config import get_cfg
from woo.data.clip_sampling import clip_frame_indices
from woo.data.frames import read_frames
from woo.data.mapper import ClipMapper
from woo.data.transforms import hflip_boxes, resize_clip, resized_shape, sample_short_side


def test_clip_is_centred_on_the_key_frame():
    np.testing.assert_array_equal(clip_frame_indices(60, 8, 4, 300), [44, 48, 52, 56, 60, 64, 68, 72])
    # odd T: key frame still at position T // 2
    np.testing.assert_array_equal(clip_frame_indices(10, 3, 2, 100), [8, 10, 12])
    # slow pathway of SlowFast (alpha 4) keeps the key frame in the middle
    fast = clip_frame_indices(500, 32, 2, 1000)
    assert fast[16] == 500 and fast[::4][4] == 500


def test_clip_is_clamped_at_video_edges():
    np.testing.assert_array_equal(clip_frame_indices(3, 4, 2, 10), [0, 1, 3, 5])
    np.testing.assert_array_equal(clip_frame_indices(9, 4, 2, 10), [5, 7, 9, 9])
    np.testing.assert_array_equal(clip_frame_indices(0, 3, 5, 1), [0, 0, 0])
    with pytest.raises(ValueError, match="key frame 10 outside"):
        clip_frame_indices(10, 4, 2, 10)


def test_resized_shape_keeps_short_side_and_caps_long_side():
    assert resized_shape(360, 640, 256, 1333) == (256, 455)
    assert resized_shape(640, 360, 320, 1333) == (569, 320)
    # the long side would be 1400 > 1000: shrink to fit
    assert resized_shape(100, 500, 280, 1000) == (200, 1000)


def test_short_side_sampling():
    gen = torch.Generator().manual_seed(0)
    sizes = {sample_short_side((256, 320), "range", gen) for _ in range(300)}
    assert min(sizes) == 256 and max(sizes) == 320
    assert {sample_short_side((10, 30), "choice", gen) for _ in range(50)} == {10, 30}
    with pytest.raises(ValueError, match="'range' or 'choice'"):
        sample_short_side((256,), "uniform")


def test_hflip_boxes():
    boxes = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    np.testing.assert_allclose(hflip_boxes(boxes, 1.0), [[0.7, 0.2, 0.9, 0.4]], atol=1e-6)
    np.testing.assert_allclose(hflip_boxes(boxes * 100, 100), [[70, 20, 90, 40]], atol=1e-4)
    np.testing.assert_allclose(hflip_boxes(hflip_boxes(boxes, 1.0), 1.0), boxes, atol=1e-6)


def _video(tmp_path, num_frames=20, size=(24, 32)):
    """Frames whose pixel value is the frame index, with a white block at x 4..11, y 6..13."""
    paths = []
    for i in range(num_frames):
        frame = np.full(size + (3,), i, np.uint8)
        frame[6:14, 4:12] = 255
        frame[0:4, 0:4] = (0, 0, 200)  # BGR red: checks the RGB conversion
        path = str(tmp_path / f"v_{i + 1:06d}.jpg")
        cv2.imwrite(path, frame, [cv2.IMWRITE_JPEG_QUALITY, 100])
        paths.append(path)
    return paths


def _record(paths, key=10):
    return {
        "video_id": "v",
        "timestamp": 902,
        "frame_paths": paths,
        "key_frame_index": key,
        "height": 24,
        "width": 32,
        "boxes": np.array([[4 / 32, 6 / 24, 12 / 32, 14 / 24]], np.float32),
        "actions": np.array([[0, 1, 0]], np.float32),
    }


def test_test_mapper_output(tmp_path):
    mapper = ClipMapper(False, num_frames=4, sampling_rate=3, min_size=(48,), max_size=1333)
    out = mapper(_record(_video(tmp_path), key=2))
    assert out["clip"].dtype == torch.uint8 and out["clip"].shape == (3, 4, 48, 64)
    assert out["image_size"] == (48, 64) and (out["height"], out["width"]) == (24, 32)
    assert (out["video_id"], out["timestamp"]) == ("v", 902)
    # frames 0, 0, 2, 5: clamped at the start; background value = frame index (JPEG tolerance)
    np.testing.assert_allclose(out["clip"][1, :, 40, 60].float(), [0, 0, 2, 5], atol=2)
    assert out["clip"][0, 0, 2, 2] > 150 and out["clip"][2, 0, 2, 2] < 50  # RGB: red first
    torch.testing.assert_close(out["gt_boxes"], torch.tensor([[8.0, 12.0, 24.0, 28.0]]))
    assert out["gt_boxes"].dtype == torch.float32
    torch.testing.assert_close(out["gt_actions"], torch.tensor([[0.0, 1.0, 0.0]]))
    # the box sits on the white block of the resized clip
    inside = out["clip"][:, 2, 13:27, 9:23].float().mean()
    assert inside > 240


def test_mapper_gives_the_clip_in_input_format_order(tmp_path):
    """INPUT.FORMAT "BGR" (detectron2's default) reverses the channels, as detectron2's DatasetMapper reads BGR."""
    record = _record(_video(tmp_path), key=2)
    cfg = get_cfg()
    rgb = ClipMapper.from_config(cfg, is_train=False)(record)["clip"]
    cfg.INPUT.FORMAT = "BGR"
    bgr = ClipMapper.from_config(cfg, is_train=False)(record)["clip"]
    assert torch.equal(bgr, rgb.flip(0)) and bgr.is_contiguous()
    assert bgr[2, 0, 2, 2] > 150 and bgr[0, 0, 2, 2] < 50  # BGR: red last
    cfg.INPUT.FORMAT = "YUV"
    with pytest.raises(ValueError, match="INPUT.FORMAT must be one of .'RGB', 'BGR'., got 'YUV'"):
        ClipMapper.from_config(cfg, is_train=False)


def test_key_frame_only_mapper_repeats_the_key_frame(tmp_path):
    """INPUT.KEY_FRAME_ONLY: every frame of the clip is the key frame, the rest is unchanged."""
    paths = _video(tmp_path)
    normal = ClipMapper(False, num_frames=4, sampling_rate=3, min_size=(48,), max_size=1333)
    still = ClipMapper(False, num_frames=4, sampling_rate=3, min_size=(48,), max_size=1333, key_frame_only=True)
    out = still(_record(paths, key=7))
    # background value = frame index: all four frames are frame 7 (JPEG tolerance)
    np.testing.assert_allclose(out["clip"][1, :, 40, 60].float(), [7, 7, 7, 7], atol=2)
    assert torch.equal(out["clip"][:, 2], normal(_record(paths, key=7))["clip"][:, 2])
    torch.testing.assert_close(out["gt_boxes"], torch.tensor([[8.0, 12.0, 24.0, 28.0]]))
    cfg = get_cfg()
    cfg.INPUT.KEY_FRAME_ONLY = True
    assert ClipMapper.from_config(cfg, is_train=True).key_frame_only


def test_train_mapper_flips_boxes_with_pixels(tmp_path):
    mapper = ClipMapper(
        True, num_frames=2, sampling_rate=1, min_size=(24, 48), max_size=1333,
        min_size_sampling="range", random_flip=True,
    )
    record = _record(_video(tmp_path, num_frames=3), key=1)
    torch.manual_seed(0)
    seen_flips, sizes = set(), set()
    for _ in range(16):
        out = mapper(record)
        h, w = out["image_size"]
        sizes.add(h)
        assert out["clip"].shape == (3, 2, h, w) and w == int(h * 32 / 24 + 0.5)
        x1, y1, x2, y2 = out["gt_boxes"][0].tolist()
        flipped = x1 > w / 2
        seen_flips.add(flipped)
        expected_x1 = (w - 12 * w / 32) if flipped else 4 * w / 32
        assert x1 == pytest.approx(expected_x1, abs=1e-3)
        # the white block moves with the box
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        assert out["clip"][:, 1, cy, cx].min() > 240
    assert seen_flips == {True, False} and len(sizes) > 3


def test_mapper_from_config():
    cfg = get_cfg()
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 8, 4
    train = ClipMapper.from_config(cfg, is_train=True)
    assert (train.num_frames, train.sampling_rate, train.min_size, train.max_size) == (8, 4, (256, 320), 1333)
    assert train.random_flip and train.min_size_sampling == "range"
    test = ClipMapper.from_config(cfg, is_train=False)
    assert test.min_size == (256,) and not test.random_flip
    cfg.INPUT.RANDOM_FLIP = "vertical"
    with pytest.raises(ValueError, match="RANDOM_FLIP"):
        ClipMapper.from_config(cfg, is_train=True)


def test_missing_or_corrupt_frame_names_its_path(tmp_path):
    paths = _video(tmp_path, num_frames=3)
    with pytest.raises(FileNotFoundError, match="missing frame .*nope.jpg"):
        read_frames([paths[0], str(tmp_path / "nope.jpg")])
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(OSError, match="cannot decode frame .*bad.jpg"):
        read_frames([str(tmp_path / "bad.jpg")])


def test_resize_clip_resizes_every_frame():
    frames = np.zeros((3, 10, 20, 3), np.uint8)
    frames[1] = 100
    out = resize_clip(frames, (5, 10))
    assert out.shape == (3, 5, 10, 3) and out[1].min() == 100 and out[0].max() == 0


def test_reduced_decode_factor_follows_the_clip_size():
    from woo.data.frames import decode_reduction

    jpeg, png = ["a/f_000001.jpg"], ["a/00001.png"]
    assert decode_reduction(jpeg, (720, 1280), (256, 455)) == 2  # 640x360 still covers the clip
    assert decode_reduction(jpeg, (720, 1280), (320, 569)) == 2
    assert decode_reduction(jpeg, (720, 1280), (361, 642)) == 1
    assert decode_reduction(jpeg, (1080, 1920), (256, 455)) == 4
    assert decode_reduction(["F.JPEG"], (2160, 3840), (256, 455)) == 8
    assert decode_reduction(jpeg, (240, 320), (256, 341)) == 1  # enlarged: never reduced
    assert decode_reduction(png, (720, 1280), (256, 455)) == 1  # PNG: OpenCV would decode it whole


def _720p_video(tmp_path, num_frames=4):
    """720p JPEG frames with texture, edges and a bright block at x 320..639, y 180..359."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:720, 0:1280]
    paths = []
    for i in range(num_frames):
        frame = np.stack([(xx / 5 + i) % 256, (yy / 3) % 256, (xx + yy) / 8 % 256], axis=-1)
        frame = frame + rng.normal(0, 4, frame.shape)
        frame[180:360, 320:640] = 250
        path = str(tmp_path / f"hd_{i + 1:06d}.jpg")
        cv2.imwrite(path, np.clip(frame, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def test_reduced_decode_equals_full_decode_and_resize(tmp_path, monkeypatch):
    import woo.data.mapper as mapper_module

    record = {**_record(_720p_video(tmp_path), key=2), "height": 720, "width": 1280,
              "boxes": np.array([[0.25, 0.25, 0.5, 0.5]], np.float32)}
    mapper = ClipMapper(True, num_frames=4, sampling_rate=1, min_size=(256, 320), max_size=1333,
                        min_size_sampling="range", random_flip=True)
    reduced = []
    for seed in range(4):
        torch.manual_seed(seed)
        reduced.append(mapper(record))
    monkeypatch.setattr(mapper_module, "decode_reduction", lambda *args: 1)
    for seed, small in enumerate(reduced):
        torch.manual_seed(seed)
        full = mapper(record)
        assert small["clip"].shape == full["clip"].shape and small["image_size"] == full["image_size"]
        difference = (small["clip"].float() - full["clip"].float()).abs().mean()
        assert difference < 1.0, f"mean absolute difference {difference:.2f}"
        # Boxes are normalized: exact, flipped or not, whatever the size decoded.
        assert torch.equal(small["gt_boxes"], full["gt_boxes"])
        h, w = full["image_size"]
        x1, y1, x2, y2 = full["gt_boxes"][0].tolist()
        assert (y1, y2) == pytest.approx((h / 4, h / 2), abs=1e-3)
        assert (x1, x2) in ((pytest.approx(w / 4, abs=1e-3), pytest.approx(w / 2, abs=1e-3)),
                            (pytest.approx(w / 2, abs=1e-3), pytest.approx(3 * w / 4, abs=1e-3)))
        # The bright block is under the box in both.
        inside = small["clip"][:, 1, int(y1) + 4:int(y2) - 4, int(x1) + 4:int(x2) - 4].float().mean()
        assert inside > 240


def test_frames_of_another_size_than_the_record_are_an_error(tmp_path):
    mapper = ClipMapper(False, num_frames=2, sampling_rate=1, min_size=(48,), max_size=1333)
    record = {**_record(_video(tmp_path, num_frames=3), key=1), "height": 48, "width": 64}
    with pytest.raises(OSError, match=r"frame .*v_000001\.jpg is not 48x64 \(HxW\), its video's size"):
        mapper(record)
