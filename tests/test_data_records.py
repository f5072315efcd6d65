"""Records held compactly: FramePaths, the vectorized frame-list and annotation readers, KeyFrameRecords."""
import pickle

import numpy as np
import pytest

import woo.formats.ava_annotations as ava_annotations
from woo.data.build import get_dataset_dicts
from woo.data.records import KeyFrameRecords, as_key_frame_records
from woo.formats.ava_annotations import read_annotation_table
from woo.formats.frame_list import FramePaths, read_frame_list


def test_frame_paths_pattern_names_and_equality():
    paths = [f"v/v_{i:06d}.jpg" for i in range(1, 6)]
    frames = FramePaths.from_paths(paths, root="/data")
    assert (frames.pattern, frames.first, frames.names) == ("v/v_{:06d}.jpg", 1, None)
    assert frames == ["/data/" + p for p in paths] and len(frames) == 5
    assert frames[0] == "/data/v/v_000001.jpg" and frames[-1] == "/data/v/v_000005.jpg"
    assert frames[1:3] == ["/data/v/v_000002.jpg", "/data/v/v_000003.jpg"]
    with pytest.raises(IndexError):
        frames[5]
    assert pickle.loads(pickle.dumps(frames)) == frames and frames.with_root("/x") == frames  # absolute stays
    assert FramePaths.from_paths(paths, root="data").with_root("/x")[0] == "/x/data/v/v_000001.jpg"
    # Names that follow no one pattern (unpadded numbers, a gap, braces) are kept as they are.
    for names in (["a/img_9.jpg", "a/img_10.jpg"], ["b_1.png", "b_3.png"], ["{x}_01.jpg", "{x}_02.jpg"]):
        kept = FramePaths.from_paths(names)
        assert list(kept) == names
    assert FramePaths.from_paths(["{x}_01.jpg", "{x}_02.jpg"]).pattern == "{{x}}_{:02d}.jpg"


def test_frame_list_reads_any_whitespace_and_names_without_a_pattern(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(
        b"original_vido_id video_idx frame_id path labels\r\n"
        b"v 0 1 v/v_000002.jpg \"\"\r\n"
        b"  v\t0  0   v/v_000001.jpg  \r\n"
        b"\n"
        b"w 1 0 w/img_9.jpg\n"
        b"w 1 1 w/img_10.jpg \"\"\n"
        b"v 0 2 v/v_000003.jpg"
    )
    videos = read_frame_list(str(path))
    assert list(videos) == ["v", "w"]
    assert videos["v"] == ["v/v_000001.jpg", "v/v_000002.jpg", "v/v_000003.jpg"] and videos["v"].pattern
    assert videos["w"] == ["w/img_9.jpg", "w/img_10.jpg"] and videos["w"].names is not None
    # Small chunks: rows of one video split over chunks, a name that breaks the pattern in a later chunk.
    rows = [f"x 0 {i} x/x_{i + 1:04d}.jpg" for i in range(50)] + ["x 0 50 x/other.jpg"]
    path.write_text("\n".join(rows) + "\n")
    x = read_frame_list(str(path), chunk_bytes=64)["x"]
    assert list(x) == [f"x/x_{i + 1:04d}.jpg" for i in range(50)] + ["x/other.jpg"]


GT = """\
vidB,0903,0.2,0.2,0.4,0.4,3,0
vidA,0902,0.1,0.2,0.3,0.4,1,0
vidA,0902,0.5,0.5,0.9,0.9,5,1
vidA,0902,0.1,0.2,0.3,0.4,5,0
vidA,0902,0.1,0.2,0.3,0.4,1,0
vidB,0903,0.2,0.2,0.4,0.4,7,0
vidA,0902,0.1,0.2,0.3,0.4,2,1
"""


def _table(path):
    table = read_annotation_table(str(path))
    return (table.keys, table.person_key.tolist(), table.boxes.tolist(), table.action_start.tolist(),
            table.action_ids.tolist(), dict(table.stats))


def test_annotation_table_groups_people_in_file_order_and_survives_hash_collisions(tmp_path, monkeypatch):
    path = tmp_path / "gt.csv"
    path.write_text(GT)
    expected = (
        [("vidB", 903), ("vidA", 902)],
        # vidB's person, vidA person 0 at 0.1.., person 1 at 0.5.., person 1 at 0.1.. (another person id)
        [0, 1, 1, 1],
        [[0.2, 0.2, 0.4, 0.4], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.9], [0.1, 0.2, 0.3, 0.4]],
        [0, 2, 4, 5, 6],
        [3, 7, 1, 5, 5, 2],
        {"merged duplicate row": 1},
    )
    assert _table(path) == expected
    # Every row hashes alike: the exact grouping takes over, with the same result.
    monkeypatch.setattr(ava_annotations, "_HASH_MULTIPLIER", 0)
    assert _table(path) == expected


def _records(datasets_root, monkeypatch):
    monkeypatch.setenv("WOO_DATASETS", datasets_root)
    return get_dataset_dicts(["woo_synthetic_val"])


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key


def test_records_select_concatenate_pickle_and_pack_dicts(datasets_root, monkeypatch):
    records = _records(datasets_root, monkeypatch)
    assert isinstance(records, KeyFrameRecords) and len(records) == 62
    dicts = list(records)
    assert dicts[0]["actions"].shape == (len(dicts[0]["boxes"]), 6) and dicts[0]["actions"].dtype == np.float32
    # A record is a fresh dict each time: changing it changes nothing stored.
    dicts[0]["boxes"][:] = -1
    assert (records[0]["boxes"] >= 0).all()
    picked = records.select([5, 1, 5])
    for got, index in zip(picked, [5, 1, 5]):
        _same(got, records[index])
    both = KeyFrameRecords.concatenate([records, picked])
    assert len(both) == 65 and both[63]["video_id"] == records[1]["video_id"]
    _same(both[64], records[5])
    again = pickle.loads(pickle.dumps(records))
    packed = as_key_frame_records([dict(r, frame_paths=list(r["frame_paths"])) for r in records])
    for i in range(len(records)):
        _same(again[i], records[i])
        _same(packed[i], records[i])
    assert packed[0]["frame_paths"].pattern is not None  # lists of paths become patterns again
    with pytest.raises(ValueError, match="different numbers of actions"):
        KeyFrameRecords.concatenate([records, as_key_frame_records([dict(records[0], actions=np.zeros((
            len(records[0]["boxes"]), 80), np.float32))])])
