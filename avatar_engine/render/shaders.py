"""Loads GLSL programs from `shaders/`: one file per program, stages split by VERTEX_SHADER / FRAGMENT_SHADER,
`#include "lib/x.glsl"` resolved relative to the shaders folder, variants selected by defines."""

from __future__ import annotations

import re
from typing import Iterable

from avatar_engine.data_files import data_dir

SHADER_DIR = data_dir("shaders")
_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.MULTILINE)


def _expand(source: str, seen: tuple[str, ...]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in seen:
            raise ValueError(f"shader include cycle: {' -> '.join(seen + (name,))}")
        return _expand((SHADER_DIR / name).read_text(), seen + (name,))

    return _INCLUDE.sub(replace, source)


def stage_sources(name: str, defines: Iterable[str] = ()) -> tuple[str, str]:
    """(vertex, fragment) sources of `shaders/<name>.glsl` with the given extra defines; ModelError for a shader
    file missing, unreadable or damaged (a traceback before)."""
    from avatar_engine.data_files import restore_hint
    from avatar_engine.errors import ModelError

    try:
        text = _expand((SHADER_DIR / f"{name}.glsl").read_text(), (name,))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"shader {name}.glsl cannot be read ({exc}); {restore_hint()}") from None
    version, _, body = text.partition("\n")
    if not version.startswith("#version"):
        raise ModelError(f"shaders/{name}.glsl must start with a #version line: damaged; {restore_hint()}")
    extra = "".join(f"#define {d}\n" for d in defines)
    return tuple(f"{version}\n#define {stage}\n{extra}#line 2\n{body}" for stage in ("VERTEX_SHADER", "FRAGMENT_SHADER"))
