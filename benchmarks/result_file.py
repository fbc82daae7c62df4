"""Benchmarks print their result as JSON and, when given a path, save it there whole or not at all."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from avatar_engine.paths import write_text_atomic


def emit(result: dict, out: str | Path | None) -> None:
    """Print `result` as indented JSON; write it to `out` (if any) through a temporary file and a rename."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is None:
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text + "\n")


def machine_record(load_before: tuple[float, ...], started: float | None = None, **extra) -> dict:
    """The result's "machine": cores, platform, `extra` fields, the load average before the run (`os.getloadavg()`
    then) and now, and the seconds since `started` (a `time.perf_counter()` reading) when given."""
    record = {"cpus": os.cpu_count(), "platform": platform.platform(), **extra,
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()]}
    if started is not None:
        record["seconds"] = round(time.perf_counter() - started, 1)
    return record
