"""scripts/results_age.py: which stored results are older than the code their benchmark runs, on a small git
checkout made for the test."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "results_age.py"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _script():
    spec = importlib.util.spec_from_file_location("results_age", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being made
    spec.loader.exec_module(module)
    return module


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def _commit(root: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A package whose `solver` the benchmark reaches through a function-local import in `live`, a helper beside
    the benchmarks and one in scripts/; `unused` nothing imports."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _commit(root, {
        "avatar_engine/__init__.py": "",
        "avatar_engine/live/__init__.py": "from avatar_engine.live.loop import run\n",
        "avatar_engine/live/loop.py": "def run():\n    from avatar_engine.solve import solver\n    return solver\n",
        "avatar_engine/solve/__init__.py": "",
        "avatar_engine/solve/solver.py": "GAIN = 1\n",
        "avatar_engine/unused.py": "X = 1\n",
        "benchmarks/common.py": "import json\n",
        "benchmarks/live_bench.py": ("import numpy\nfrom common import json\nfrom avatar_engine.live import run\n"
                                     "def main():\n    import make_samples\n"),
        "scripts/make_samples.py": "X = 1\n",
        "benchmarks/other.py": "from avatar_engine import unused\n",
        "assets/table.npz": "1",
        "assets/card.md": "a card",
    }, "code")
    _commit(root, {"benchmarks/results/live_bench.json": json.dumps({"benchmark": "live_bench"}),
                   "benchmarks/results/live_bench_variant.json": "{}",
                   "benchmarks/results/mystery.json": "{}"}, "results stored")
    return root


def test_a_change_to_imported_code_or_data_is_counted_and_one_elsewhere_is_not(checkout: Path) -> None:
    age = _script()
    results = checkout / "benchmarks" / "results"
    fresh = {r["result"]: r for r in age.ages(results)}
    assert fresh["live_bench.json"]["code"]["commits"] == 0 and fresh["live_bench.json"]["data"]["commits"] == 0
    # the script, its two helpers, the three packages' inits importing runs, loop and solver
    assert fresh["live_bench.json"]["code_files"] == 8

    _commit(checkout, {"avatar_engine/unused.py": "X = 2\n", "assets/card.md": "edited"}, "unrelated")
    _commit(checkout, {"avatar_engine/__init__.py": "VERSION = 2\n"}, "package init")
    _commit(checkout, {"avatar_engine/solve/solver.py": "GAIN = 2\n"}, "solver gain")
    _commit(checkout, {"assets/table.npz": "2"}, "table regenerated")
    rows = {r["result"]: r for r in age.ages(results)}
    bench = rows["live_bench.json"]
    assert bench["benchmark"] == "live_bench.py"
    assert bench["code"]["commits"] == 2 and bench["code"]["newest"]["subject"] == "solver gain"
    assert bench["changed_files"] == ["avatar_engine/__init__.py", "avatar_engine/solve/solver.py"]
    assert bench["data"]["commits"] == 1 and bench["data"]["newest"]["subject"] == "table regenerated"
    # a variant's file name finds its script; a name no script starts is said, not guessed
    assert rows["live_bench_variant.json"]["benchmark"] == "live_bench.py"
    assert rows["live_bench_variant.json"]["code"]["commits"] == 2
    assert rows["mystery.json"]["benchmark"] is None and "no benchmark" in rows["mystery.json"]["note"]


def test_restoring_a_result_makes_it_fresh_again(checkout: Path) -> None:
    age = _script()
    _commit(checkout, {"avatar_engine/solve/solver.py": "GAIN = 2\n"}, "solver gain")
    _commit(checkout, {"benchmarks/results/live_bench.json": json.dumps({"benchmark": "live_bench", "v": 2})},
            "rerun")
    row = age.ages(checkout / "benchmarks" / "results", ("live_bench",))[0]
    assert row["result"] == "live_bench.json" and row["code"]["commits"] == 0


def test_an_imported_file_that_cannot_be_parsed_is_one_line(checkout: Path, capsys) -> None:
    age = _script()
    _commit(checkout, {"avatar_engine/solve/solver.py": "def broken(:\n"}, "broken")
    assert age.main(["--results", str(checkout / "benchmarks" / "results")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"results_age: error: {checkout / 'avatar_engine/solve/solver.py'}: cannot read its imports "
                   "(SyntaxError)"]


def test_bad_folders_are_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    age = _script()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert age.main(["--results", str(plain)]) == 2
    assert age.main(["--results", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"results_age: error: {plain} is not in a git checkout",
                   f"results_age: error: {tmp_path / 'missing'}: no such folder"]


def test_a_deleted_data_file_counts(checkout: Path) -> None:
    age = _script()
    _git(checkout, "rm", "-q", "assets/table.npz")
    _git(checkout, "commit", "-q", "-m", "table removed")
    row = age.ages(checkout / "benchmarks" / "results", ("live_bench",))[0]
    assert row["data"]["commits"] == 1 and row["data"]["newest"]["subject"] == "table removed"
