"""AVA annotation readers on small files holding every quirk the readers handle."""
import logging

import numpy as np
import pytest

from woo.data.ava_dataset import load_ava_records
from woo.data.catalog import AVASplit, get_split, list_splits
from woo.formats.ava_annotations import key_frame_index, read_annotations, read_frame_list


def _write(path, text):
    path.write_text(text)
    return str(path)


GT_ROWS = """\
vidA,0902,0.1,0.2,0.3,0.4,1,0
vidA,0902,0.1,0.2,0.3,0.4,5,0
vidA,0902,0.5,0.5,0.9,0.9,5,1
vidA,0902,0.1,0.2,0.3,0.4,5,0

vidA,0903,-0.002,0.2,1.004,0.9,2,0
vidA,0901,0.1,0.2,0.3,0.4,1,0
vidA,1799,0.1,0.2,0.3,0.4,1,0
vidA,0904,0.3,0.2,0.3,0.4,1,0
vidA,0904,0.1,0.2,0.3,0.4,77,0
vidB,0902,0.2,0.2,0.4,0.4,3
vidB,0902,0.2,0.2,0.4,0.4,4
"""


def test_annotations_group_rows_into_multi_hot_boxes(tmp_path, caplog):
    path = _write(tmp_path / "ava_train_v2.2.csv", GT_ROWS)
    with caplog.at_level(logging.INFO, logger="woo.formats.ava_annotations"):
        boxes, stats = read_annotations(path, class_ids={1, 2, 3, 4, 5})
    a902 = boxes[("vidA", 902)]
    assert [b.box for b in a902] == [(0.1, 0.2, 0.3, 0.4), (0.5, 0.5, 0.9, 0.9)]
    assert [b.action_ids for b in a902] == [{1, 5}, {5}]
    # clipped to [0, 1]
    assert [b.box for b in boxes[("vidA", 903)]] == [(0.0, 0.2, 1.0, 0.9)]
    # 7-column rows: grouped by box
    assert [(b.box, b.action_ids) for b in boxes[("vidB", 902)]] == [((0.2, 0.2, 0.4, 0.4), {3, 4})]
    # 0904 had only an empty box and an unknown action
    assert set(boxes) == {("vidA", 902), ("vidA", 903), ("vidB", 902)}
    assert stats == {
        "merged duplicate row": 1,
        "clipped box outside [0,1]": 1,
        "skipped timestamp outside 902..1798": 2,
        "skipped empty box": 1,
        "skipped action id not in label map": 1,
    }
    summary = [r for r in caplog.records if path in r.getMessage()]
    assert len(summary) == 1 and summary[0].levelno == logging.WARNING
    assert "11 rows" in summary[0].getMessage() and "skipped empty box: 1" in summary[0].getMessage()


@pytest.mark.parametrize(
    "row, message",
    [
        ("vidA,0902,0.1,0.2,0.3,0.4", "got 6"),
        ("vidA,09x2,0.1,0.2,0.3,0.4,1,0", "timestamp '09x2'"),
        ("vidA,0902,0.1,zero,0.3,0.4,1,0", "y1 'zero'"),
        ("vidA,0902,0.1,0.2,0.3,0.4,,0", "empty action_id"),
        ("vidA,0902,0.1,0.2,0.3,0.4,1,p3", "person_id 'p3'"),
    ],
)
def test_malformed_annotation_row_names_file_and_line(tmp_path, row, message):
    path = _write(tmp_path / "gt.csv", "vidA,0902,0.1,0.2,0.3,0.4,1,0\n" + row + "\n")
    with pytest.raises(ValueError, match=rf"gt\.csv:2: .*{message}"):
        read_annotations(path)


def test_frame_list_orders_frames_and_rejects_gaps(tmp_path):
    path = _write(
        tmp_path / "train.csv",
        "original_vido_id video_idx frame_id path labels\n"
        'v 0 1 v/v_000002.jpg ""\n'
        'v 0 0 v/v_000001.jpg ""\n'
        "w 1 0 w/w_000001.jpg\n",
    )
    assert read_frame_list(path) == {"v": ["v/v_000001.jpg", "v/v_000002.jpg"], "w": ["w/w_000001.jpg"]}
    gap = _write(tmp_path / "gap.csv", 'v 0 0 a.jpg ""\nv 0 2 c.jpg ""\n')
    with pytest.raises(ValueError, match=r"gap\.csv: video 'v' .* frame 1 missing"):
        read_frame_list(gap)
    dup = _write(tmp_path / "dup.csv", 'v 0 0 a.jpg ""\nv 0 0 b.jpg ""\n')
    with pytest.raises(ValueError, match=r"dup\.csv:2: frame 0 of video 'v' listed twice"):
        read_frame_list(dup)
    bad = _write(tmp_path / "bad.csv", 'v 0 0 a.jpg ""\nv,0,1,b.jpg\n')
    with pytest.raises(ValueError, match=r"bad\.csv:2: expected"):
        read_frame_list(bad)


def test_key_frame_index_follows_pyslowfast_layout():
    assert key_frame_index(900) == 0
    assert key_frame_index(902) == 60
    assert key_frame_index(1798) == 26940


def _ava_tree(tmp_path, labelmap_text):
    """A two-video AVA tree with real JPEG frames (video B lacks frames)."""
    import cv2

    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    (root / "frame_lists").mkdir()
    rows = ["original_vido_id video_idx frame_id path labels"]
    frame = np.zeros((36, 64, 3), np.uint8)
    (root / "frames" / "vidA").mkdir(parents=True)
    for i in range(125):  # seconds 900..904, key frames of 902, 903, 904 at 60, 90, 120
        cv2.imwrite(str(root / "frames" / "vidA" / f"vidA_{i + 1:06d}.jpg"), frame)
        rows.append(f'vidA 0 {i} vidA/vidA_{i + 1:06d}.jpg ""')
    _write(root / "frame_lists" / "val.csv", "\n".join(rows) + "\n")
    _write(root / "annotations" / "gt.csv", GT_ROWS + "vidA,0905,0.1,0.1,0.2,0.2,1,0\n")
    _write(root / "annotations" / "map.pbtxt", labelmap_text)
    _write(root / "annotations" / "excl.csv", "vidA,0903\n")
    return AVASplit(
        name="quirks",
        frames_dir=str(root / "frames"),
        frame_list=str(root / "frame_lists" / "val.csv"),
        annotations=str(root / "annotations" / "gt.csv"),
        label_map=str(root / "annotations" / "map.pbtxt"),
        eval_label_map=str(root / "annotations" / "map.pbtxt"),
        exclusions=str(root / "annotations" / "excl.csv"),
        num_actions=80,
    )


SIXTY_CLASS_MAP = "".join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 2, 3, 5))
EIGHTY_CLASS_MAP = "".join(
    f'label {{\n  name: "a{i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n' for i in range(1, 81)
)


def test_records_from_an_ava_tree(tmp_path, caplog):
    split = _ava_tree(tmp_path, SIXTY_CLASS_MAP)
    with caplog.at_level(logging.INFO):
        records = load_ava_records(split)
    # vidA 0903 excluded, vidA 0905 past the last frame, vidB has no frames
    assert [(r["video_id"], r["timestamp"]) for r in records] == [("vidA", 902)]
    (rec,) = records
    assert rec["key_frame_index"] == 60 and (rec["height"], rec["width"]) == (36, 64)
    assert len(rec["frame_paths"]) == 125 and rec["frame_paths"][60].endswith("vidA/vidA_000061.jpg")
    np.testing.assert_allclose(rec["boxes"], [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.9]])
    assert rec["actions"].shape == (2, 80) and rec["actions"].dtype == np.float32
    assert np.flatnonzero(rec["actions"][0]).tolist() == [0, 4] and np.flatnonzero(rec["actions"][1]).tolist() == [4]
    text = caplog.text
    assert "skipped key frame of a video missing from the frame list: 1" in text
    assert "skipped key frame past the video's last frame: 1" in text
    assert "1 excluded key frames left out" in text
    # ids 4 (vidB) are not in the 60-class-style map: counted skip
    assert "skipped action id not in label map: 2" in text


def test_eighty_class_map_keeps_all_ids(tmp_path):
    split = _ava_tree(tmp_path, EIGHTY_CLASS_MAP)
    first, second = load_ava_records(split)
    assert first["actions"].sum() == 3
    # action 77 of 0904 is kept with the 80-class map: column 76
    assert second["timestamp"] == 904 and np.flatnonzero(second["actions"]).tolist() == [76]
    assert second["frame_paths"] is first["frame_paths"]


def test_missing_ava_files_name_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    split = get_split("ava_v2.2_val")
    assert split.annotations == str(tmp_path / "ava" / "annotations" / "ava_val_v2.2.csv")
    assert split.eval_label_map.endswith("ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert split.num_actions == 80 and not split.all_key_frames
    with pytest.raises(FileNotFoundError, match=r"frame_lists/val\.csv"):
        load_ava_records(split)
    with pytest.raises(KeyError, match="ava_v2.2_train"):
        get_split("ava_v3_train")
    assert {
        "ava_v2.1_train", "ava_v2.1_val", "ava_v2.2_train", "ava_v2.2_val", "woo_synthetic_train", "woo_synthetic_val"
    } <= set(list_splits())  # JHMDB-21 / UCF101-24 splits are tests/test_jhmdb_data.py's
