"""Items for tests/test_workers.py that spawned workers can import by name (they get the parent's sys.path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from avatar_engine.paths import temporary_beside

DIE_AFTER_S = 1.0


def write_slowly_or_die(item: tuple[str, str]) -> str:
    """("die", folder): the worker exits abruptly (as the memory killer ends it); ("slow", folder): it starts a
    temporary file in `folder`, as an avatar being written, and takes half a minute over it."""
    kind, folder = item
    if kind == "die":
        time.sleep(DIE_AFTER_S)
        os._exit(3)
    temporary_beside(Path(folder) / "avatar.glb").write_bytes(b"half an avatar")
    time.sleep(30.0)
    return kind


def steps_until_stopped(steps: int) -> int:
    """An item of `steps` half-second steps that gives itself up between them once the run stops (a synthetic
    set's shard of renders)."""
    from avatar_engine.workers import Abandoned, stop_requested

    for _ in range(steps):
        if stop_requested():
            raise Abandoned("stopped")
        time.sleep(0.5)
    return steps
