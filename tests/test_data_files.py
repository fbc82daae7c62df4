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


def _copy_of_the_data(tmp_path):
    """The required files and the shipped networks under tmp_path, where a PACKAGE_DIR of tmp_path/avatar_engine finds
    them (a checkout's layout)."""
    for name in data_files.REQUIRED_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "assets" / "models", tmp_path / "assets" / "models")


def test_doctor_fails_when_package_data_is_damaged(monkeypatch, tmp_path):
    # present was enough: a truncated head table and an emptied shader passed, and every command then failed
    _copy_of_the_data(tmp_path)
    monkeypatch.setattr(data_files, "PACKAGE_DIR", tmp_path / "avatar_engine")
    assert doctor.check_data_files().ok, "the copy itself is whole"
    table = tmp_path / "assets/head/head_model.npz"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    (tmp_path / "shaders/avatar.glsl").write_text("")
    check = doctor.check_data_files()
    assert not check.ok and check.required and "damaged" in check.detail
    assert "head_model.npz" in check.detail and "avatar.glsl" in check.detail and "git" in check.fix


def test_doctor_checks_each_shipped_network_against_its_card(monkeypatch, tmp_path):
    _copy_of_the_data(tmp_path)
    monkeypatch.setattr(data_files, "PACKAGE_DIR", tmp_path / "avatar_engine")
    assert all(c.ok for c in doctor.check_networks()) and len(doctor.check_networks()) == 3
    net = tmp_path / "assets/models/recon.onnx"
    data = bytearray(net.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the weights: it still parses, and was not looked at
    net.write_bytes(bytes(data))
    checks = {c.name: c for c in doctor.check_networks()}
    assert not checks["network recon"].ok and not checks["network recon"].required
    assert checks["network hair_style"].ok
    # a deleted network has its line too (it had none: "all required checks pass" and no word of it)
    (tmp_path / "assets/models/texture_refine.onnx").unlink()
    checks = {c.name: c for c in doctor.check_networks()}
    gone = checks["network texture_refine"]
    assert not gone.ok and not gone.required and "texture_refine.onnx is missing" in gone.detail


def test_a_damaged_head_model_or_shader_is_one_line(monkeypatch, tmp_path):
    # a truncated head_model.npz was a BadZipFile traceback in template, synth and train; an empty shader a ValueError
    from avatar_engine.errors import ModelError
    from avatar_engine.head import model
    from avatar_engine.render import shaders

    damaged = tmp_path / "head_model.npz"
    damaged.write_bytes((ROOT / "assets/head/head_model.npz").read_bytes()[:1000])
    monkeypatch.setattr(model, "ASSET_PATH", damaged)
    with pytest.raises(ModelError, match="head_model.npz is missing or damaged"):
        model.HeadModel.default.__wrapped__()
    (tmp_path / "empty.glsl").write_text("")
    monkeypatch.setattr(shaders, "SHADER_DIR", tmp_path)
    for name in ("empty", "absent"):
        with pytest.raises(ModelError, match="git"):
            shaders.stage_sources(name)
