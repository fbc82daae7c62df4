"""Output paths: the up-front checks, and atomic writes that leave either the old file or the new one whole."""

from __future__ import annotations

import os

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.paths import atomic_path, output_file, output_folder, write_bytes_atomic, write_text_atomic


def test_atomic_path_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "avatar.glb"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("the writer died")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.glb"]


def test_the_temporary_keeps_the_suffix_writers_go_by(tmp_path):
    # numpy adds ".npz" to a name without it: the file would land beside the temporary, not be renamed
    target = tmp_path / "shard.npz"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path and tmp.name.startswith(".")
        np.savez_compressed(tmp, a=np.arange(3))
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["shard.npz"]


def test_two_writers_get_two_temporaries(tmp_path):
    with atomic_path(tmp_path / "a.bin") as one, atomic_path(tmp_path / "a.bin") as two:
        assert one != two
        one.write_bytes(b"1")
        two.write_bytes(b"2")
    assert (tmp_path / "a.bin").read_bytes() == b"1"  # the block that ends last renames last


def test_write_bytes_atomic_into_a_missing_folder_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "nope" / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_output_checks_name_the_cause(tmp_path):
    (tmp_path / "folder.glb").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        output_file(tmp_path / "folder.glb", (".glb",))
    with pytest.raises(InputError, match="must end in .glb"):
        output_file(tmp_path / "x.png", (".glb",))
    (tmp_path / "avatars").mkdir()  # a folder without the suffix was "must end in .glb", hiding what was wrong
    with pytest.raises(InputError, match="avatars is a folder; name a file ending in .glb"):
        output_file(tmp_path / "avatars", (".glb",))
    with pytest.raises(InputError, match="does not exist"):
        output_file(tmp_path / "missing" / "x.glb", (".glb",))
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        output_folder(tmp_path / "file")
    assert output_folder(tmp_path / "new") == tmp_path / "new"
    with pytest.raises(InputError, match="is not an existing folder"):
        output_folder(tmp_path / "a" / "b")
    assert output_folder(tmp_path / "a" / "b", parents=True) == tmp_path / "a" / "b"  # as mkdir -p
    with pytest.raises(InputError, match="file is not an existing folder"):
        output_folder(tmp_path / "file" / "b", parents=True)


def test_the_temporary_of_a_long_name_still_fits(tmp_path):
    path = tmp_path / ("a" * 250 + ".glb")  # a valid name; its temporary once exceeded 255 bytes
    with atomic_path(path) as tmp:
        assert len(tmp.name.encode()) <= 255 and tmp.suffix == ".glb"
        tmp.write_bytes(b"x")
    assert path.read_bytes() == b"x"


def test_json_is_written_strict():
    import json
    import math

    from avatar_engine.paths import json_text

    text = json_text({"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}, "e": 2})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2} and "NaN" not in text


def test_files_replaced_together_are_there_whole_or_not_at_all(tmp_path, monkeypatch):
    """An avatar and its report: the report renamed, then the avatar's rename refused, left a report of an avatar
    that was never written."""
    import errno
    import os

    from avatar_engine.paths import replace_together, temporary_beside

    glb, report = tmp_path / "me.glb", tmp_path / "me.json"
    pairs = [(temporary_beside(report), report), (temporary_beside(glb), glb)]
    for tmp, _ in pairs:
        tmp.write_text("new")
    real = os.replace

    def refuses_the_avatar(src, dst):
        if str(dst).endswith(".glb"):
            raise OSError(errno.EPERM, "Operation not permitted", str(src), None, str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", refuses_the_avatar)
    with pytest.raises(OSError) as caught:
        replace_together(pairs)
    assert caught.value.filename == str(glb), "named by the file the user asked for"
    assert not report.exists() and not glb.exists()


def test_an_atomic_write_never_replaces_a_device_or_a_folder(tmp_path):
    """As root, write_glb(avatar, '/dev/null') renamed the avatar over the device: /dev/null became a 3.5 MB file."""
    for target in ("/dev/null", str(tmp_path)):
        with pytest.raises(InputError, match="not a regular file"):
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"x")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert list(tmp_path.iterdir()) == []
