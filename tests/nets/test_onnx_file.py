"""A trained network and its card are written together, or neither is."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest

from avatar_engine.nets.onnx_file import write_network


def test_the_network_and_its_card_arrive_together(tmp_path):
    out = tmp_path / "net.onnx"
    card = write_network(out, {"network": "x"}, lambda path: path.write_bytes(b"weights"))
    assert out.read_bytes() == b"weights"
    assert json.loads(out.with_suffix(".json").read_text()) == card
    assert card["onnx_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.onnx"], "no temporary left"


def test_a_full_disk_at_the_card_keeps_the_old_pair(tmp_path, monkeypatch):
    # the .onnx was renamed into place before the card was written: a full disk there left a network without its
    # card, or over the shipped model a new network beside the old card, which builds then refused as damaged
    out = tmp_path / "net.onnx"
    out.write_bytes(b"old weights")
    out.with_suffix(".json").write_text('{"old": true}')

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError) as caught:
        write_network(out, {"network": "x"}, lambda path: path.write_bytes(b"new weights"))
    monkeypatch.undo()
    assert caught.value.filename == str(out.with_suffix(".json")), "named by the card's own name"
    assert out.read_bytes() == b"old weights" and out.with_suffix(".json").read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.onnx"], "no temporary left"
