"""Benchmarks print their result as JSON and, when given a path, save it there whole or not at all."""

from __future__ import annotations

import json
import os
from pathlib import Path


def emit(result: dict, out: str | Path | None) -> None:
    """Print `result` as indented JSON; write it to `out` (if any) through a temporary file and a rename."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is None:
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, out)
