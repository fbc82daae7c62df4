"""Benchmarks print their result as JSON and, when given a path, save it there whole or not at all."""

from __future__ import annotations

import json
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
