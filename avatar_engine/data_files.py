"""Where the project's data folders are: `assets/` (head tables, trained weights, the demo photo, NOTICE) and
`shaders/`. In a source checkout, or an editable install of one, they sit beside the package; a wheel carries them
inside it as avatar_engine/_data/ (setup.py maps them there), since site-packages has no room for top-level folders
of ours. Every module finds them here, not by counting parent folders from its own file."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_FOLDERS = ("assets", "shaders")
REQUIRED_FILES = (
    "assets/head/head_model.npz", "assets/head/lashes.npz", "assets/head/skin_albedo.png",
    "assets/head/skin_fill_base.png", "assets/head/skin_texture_maps.npz", "assets/head/mediapipe_correspondence.npz",
    "assets/head/landmark_correction.npz", "assets/infer/mediapipe_face.json", "assets/photos/astronaut.png",
    "shaders/avatar.glsl", "shaders/backdrop.glsl", "shaders/morph_blend.glsl", "shaders/lib/deform.glsl",
)
"""What the head, the renderer, the builder and the demo cannot run without (`avatar doctor` checks them)."""


def data_dir(name: str) -> Path:
    """The folder `name` (one of `DATA_FOLDERS`): the wheel's copy when installed, else the checkout's."""
    if name not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {name!r}; one of {DATA_FOLDERS}")
    installed = PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def asset_path(*parts: str) -> Path:
    """A path under assets/, e.g. asset_path("head", "head_model.npz")."""
    return data_dir("assets").joinpath(*parts)


def missing_data_files() -> list[str]:
    """The `REQUIRED_FILES` not found (relative names), empty when the install is whole."""
    missing = []
    for name in REQUIRED_FILES:
        folder, rest = name.split("/", 1)
        if not (data_dir(folder) / rest).is_file():
            missing.append(name)
    return missing


def restore_hint() -> str:
    """How to get missing or damaged package data back: a wheel is reinstalled, a checkout restored from git."""
    if (PACKAGE_DIR / "_data").is_dir():
        return "reinstall the package (pip install --force-reinstall avatar-engine)"
    return f"restore them from git (git -C {PACKAGE_DIR.parent} checkout -- assets shaders)"


def damaged_data_files() -> list[str]:
    """The `REQUIRED_FILES` present but unreadable, each as 'name (why)': an .npz member whose checksum fails (a
    truncated or altered table), a PNG that does not decode, JSON that does not parse, a shader program without its
    #version line. Missing files are `missing_data_files`' to report."""
    import json
    import zipfile

    from avatar_engine.errors import first_line

    damaged = []
    for name in REQUIRED_FILES:
        folder, rest = name.split("/", 1)
        path = data_dir(folder) / rest
        if not path.is_file():
            continue
        try:
            if path.suffix == ".npz":
                with zipfile.ZipFile(path) as archive:
                    bad = archive.testzip()
                if bad is not None:
                    raise ValueError(f"{bad} fails its checksum")
            elif path.suffix == ".png":
                from PIL import Image

                with Image.open(path) as image:
                    image.verify()
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".glsl" and "/lib/" not in name and not path.read_text().startswith("#version"):
                raise ValueError("no #version line")
        except Exception as exc:  # whatever the reader says, the file cannot be used
            damaged.append(f"{name} ({type(exc).__name__}: {first_line(exc)})")
    return damaged
