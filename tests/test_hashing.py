"""gan_aug.hashing: the values are pinned, because cache keys, checkpoint names and shard checksums
written by earlier runs must still match."""
import numpy as np

from gan_aug.hashing import bytes_sha256, chunks_sha256, file_sha256, json_sha256


def test_json_hash_is_pinned_and_ignores_key_order():
    pinned = "1227a1a20c9e230a72bdb17552d772fcf8a0ecd84f83892373bd475a518e1827"  # sha256(json.dumps(.., sort_keys))
    assert json_sha256({"b": 1, "a": [1, "x"]}) == json_sha256({"a": [1, "x"], "b": 1}) == pinned


def test_bytes_file_and_chunks_agree(tmp_path):
    data = np.arange(3 << 19, dtype=np.uint8).tobytes() + b"gan-aug"  # more than one read chunk
    (tmp_path / "f").write_bytes(data)
    assert bytes_sha256(b"gan-aug") == "864f2ab862f861ead269377099ccb7b14ef1b26221201837bb3bbe8c2327a527"
    assert file_sha256(tmp_path / "f") == bytes_sha256(data) == chunks_sha256([data[:5], memoryview(data[5:])])
