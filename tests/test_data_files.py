"""The package finds its assets and shaders in a checkout and in an installed wheel, and the wheel carries them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from avatar_engine import data_files, doctor

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_finds_every_required_file():
    assert data_files.data_dir("assets") == ROOT / "assets"
    assert data_files.data_dir("shaders") == ROOT / "shaders"
    assert data_files.missing_data_files() == []
    assert doctor.check_data_files().ok


def test_an_installed_copy_is_preferred(monkeypatch, tmp_path):
    """In a wheel the folders sit inside the package, as avatar_engine/_data/NAME."""
    (tmp_path / "_data" / "shaders").mkdir(parents=True)
    monkeypatch.setattr(data_files, "PACKAGE_DIR", tmp_path)
    assert data_files.data_dir("shaders") == tmp_path / "_data" / "shaders"


def test_unknown_folder_is_refused():
    with pytest.raises(ValueError, match="unknown data folder"):
        data_files.data_dir("engines")


def test_doctor_fails_when_package_data_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(data_files, "PACKAGE_DIR", tmp_path / "avatar_engine")  # no assets or shaders beside it
    check = doctor.check_data_files()
    assert not check.ok and check.required
    assert "head_model.npz" in check.detail and "git" in check.fix


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_the_wheel_carries_every_tracked_asset_and_shader(tmp_path):
    """Built from the tracked files alone (as a clean clone has them), the wheel holds each file of assets/ and
    shaders/ under avatar_engine/_data/, where `data_files` looks when installed."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    source = tmp_path / "src"
    for name in filter(None, tracked.decode().split("\0")):
        if name.split("/")[0] in ("assets", "shaders", "avatar_engine") or "/" not in name:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "dist"), "."], cwd=source, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"avatar_engine/_data/{name}" for name in tracked.decode().split("\0")
              if name.split("/")[0] in data_files.DATA_FOLDERS and not name.endswith(".gitkeep")}
    assert wanted and not wanted - inside, sorted(wanted - inside)[:5]
    assert "avatar_engine/data_files.py" in inside
