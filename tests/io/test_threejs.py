"""A web client: three.js's GLTFLoader in Chromium loads the default head as a VR developer's page would, and its
morph targets and bones move it (Debian `chromium`, npm `three`; both installed by `scripts/setup.sh --test`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.io import write_glb
from avatar_engine.io.gltf_writer import _has_morphs
from avatar_engine.records import JOINT_NAMES

HERE = Path(__file__).resolve().parent
THREE = HERE.parents[1] / "node_modules" / "three" / "build" / "three.module.js"
PAGE_TIMEOUT_S = 90
COVERED_MIN = 0.05
"""The head covers at least this fraction of the 256 x 256 frame (0.19 measured)."""
MOVED_MIN = 200
"""jawOpen = 1, and the head bone turned 20 degrees, each change at least this many pixels (1,375 and 6,635
measured)."""


def _chromium() -> str:
    binary = "/usr/lib/chromium/chromium"  # Debian's wrapper script in /usr/bin does not pass the pipe through
    return binary if os.access(binary, os.X_OK) else shutil.which("chromium") or ""


def page_value(url: str, expression: str, timeout: float = PAGE_TIMEOUT_S):
    """Open `url` in headless Chromium and poll `expression` over the DevTools pipe until it is no longer
    "pending" (a page's async work finishes after its load event, where --dump-dom would read it)."""
    r3, w3 = os.pipe()  # Chromium reads commands from fd 3 and writes replies to fd 4
    r4, w4 = os.pipe()

    def on_fds_3_and_4() -> None:
        os.dup2(r3, 3)
        os.dup2(w4, 4)

    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"avatar-chromium-{os.getpid()}"
    proc = subprocess.Popen(
        [_chromium(), "--headless", "--no-sandbox", "--remote-debugging-pipe", "--allow-file-access-from-files",
         "--enable-unsafe-swiftshader", "--use-angle=swiftshader", f"--user-data-dir={profile}", url],
        pass_fds=sorted({3, 4, r3, w4}), preexec_fn=on_fds_3_and_4,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(r3)
    os.close(w4)
    pending, ids = b"", iter(range(1, 10**6))

    def send(method: str, params: dict | None = None, session: str | None = None) -> dict:
        nonlocal pending
        message = {"id": next(ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(w3, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in pending:
                chunk = os.read(r4, 1 << 16)
                assert chunk, "Chromium closed its DevTools pipe"
                pending += chunk
            line, pending = pending.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == message["id"]:
                return reply

    try:
        deadline = time.monotonic() + timeout
        page = None
        while page is None and time.monotonic() < deadline:
            page = next((t for t in send("Target.getTargets")["result"]["targetInfos"] if t["type"] == "page"), None)
        session = send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["result"]["sessionId"]
        value = None
        while time.monotonic() < deadline:
            reply = send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
            value = reply.get("result", {}).get("result", {}).get("value")
            if value not in (None, "pending"):
                return value
            time.sleep(0.2)
        raise TimeoutError(f"the page did not finish in {timeout} s (last: {value!r})")
    finally:
        proc.kill()
        proc.wait()
        os.close(w3)
        os.close(r4)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(template, tmp_path_factory) -> dict:
    if not _chromium():
        pytest.skip("chromium is not installed (apt-get install chromium, or scripts/setup.sh --test)")
    if not THREE.is_file():
        pytest.skip(f"three.js is not in {THREE.parents[1]} (scripts/setup.sh --test installs it)")
    path = tmp_path_factory.mktemp("web") / "head.glb"
    write_glb(template, path)
    text = page_value(f"{(HERE / 'threejs_check.html').as_uri()}?glb={path.as_uri()}",
                      "document.getElementById('out').textContent")
    assert not text.startswith("ERROR"), text
    return json.loads(text)


def test_threejs_loads_every_part_skinned_with_the_52_arkit_targets(loaded, template):
    assert {m["material"] for m in loaded["meshes"]} == set(template.materials)
    assert all(m["skinned"] for m in loaded["meshes"])
    # parts no shape moves (the upper teeth, part of the skull) go in the static mesh, with no targets
    morphing = sorted(m["targets"] for m in loaded["meshes"] if m["targets"])
    assert morphing == [sorted(ARKIT_NAMES)] * len(morphing)
    assert len(loaded["meshes"]) - len(morphing) == sum(not _has_morphs(p) for p in template.parts)
    assert set(loaded["bones"]) == set(JOINT_NAMES)
    assert any(m["map"] for m in loaded["meshes"] if m["material"] == "skin")


def test_threejs_renders_it_and_its_targets_and_bones_move_it(loaded):
    assert loaded["covered"] >= COVERED_MIN * loaded["pixels"]
    assert loaded["jaw_changed"] >= MOVED_MIN
    assert loaded["turn_changed"] >= MOVED_MIN
