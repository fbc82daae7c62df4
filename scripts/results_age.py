"""Which stored benchmark results are older than the code they measure.

    python scripts/results_age.py [--results benchmarks/results] [--only NAME ...] [--out age.json]

A results file is stored by a commit; any later commit that changes the code its benchmark runs may change its
figures, and nothing else says so (session 45 found eight builder results older than such commits). Per results
file this prints, as JSON, those with the most later commits first:
- the benchmark that wrote it: its "benchmark" field, else the longest benchmark script name its file name starts
  with (live_roundtrip_astronaut.json -> live_roundtrip.py);
- the commit that last stored it;
- the later commits that changed the benchmark's code: the script and every module it imports, followed through
  `avatar_engine` (the packages' `__init__` files that importing runs included) and the helpers beside the
  benchmarks and in `scripts/` (static imports, function-local ones included), and the package's data (`assets/`,
  `shaders/`; model cards and notices left out). Counted apart, as code and data.

It over-reads on purpose: a commit that only tidies an imported module counts. It answers "which results might be
stale, and since what", not "which figures changed": rerun those it lists and compare. Results files are read from
the folder itself (not its subfolders), with the benchmarks in the folder above it. Exit 2 with one line when the
folder is not in a git checkout, holds no results, or a file the benchmark imports cannot be read.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from avatar_engine.paths import write_text_atomic

PACKAGE = "avatar_engine"
DATA_PATHSPECS = ("assets", "shaders", ":(exclude)*.md", ":(exclude)assets/NOTICE")
"""The package's data, as git pathspecs: model cards and the notice describe data without changing what a benchmark
computes. Given to git, so a file deleted after a result was stored still counts."""
HELPER_DIRS = ("benchmarks", "scripts")
"""Where a benchmark's top-level helper imports (`live_common`, `make_recon_samples`) are looked for."""
RESULT_SUFFIXES = (".json", ".txt")


class AgeError(Exception):
    """A reason the ages cannot be read, said in one line."""


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str
    subject: str
    paths: tuple[str, ...]


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise AgeError("git is not installed") from exc
    if done.returncode != 0:
        raise AgeError(f"git {args[0]} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
    return done.stdout


def repo_root(path: Path) -> Path:
    """The git checkout holding `path`."""
    if not path.exists():
        raise AgeError(f"{path}: no such folder")
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except AgeError as exc:
        raise AgeError(f"{path} is not in a git checkout") from exc


def module_file(root: Path, name: str, benchmarks: Path) -> Path | None:
    """The file a module name imports from in this checkout: `avatar_engine.x.y` (module or package), or a helper
    beside the benchmarks or in `scripts/` (`live_common`); None for anything else (the standard library, other
    packages)."""
    if name == PACKAGE or name.startswith(PACKAGE + "."):
        bases = [root.joinpath(*name.split("."))]
    elif "." not in name:
        bases = [benchmarks / name] + [root / folder / name for folder in HELPER_DIRS]
    else:
        return None
    for base in bases:
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def imported_names(source: str) -> set[str]:
    """Every module name a Python source imports, anywhere in it, with the packages importing it runs: `import a.b`
    gives a and a.b; `from a.b import c` gives a, a.b and a.b.c (c may be a submodule); relative imports are not
    used in this project and are skipped."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    parts = [name.split(".") for name in names]
    return {".".join(p[:k]) for p in parts for k in range(1, len(p) + 1)}


def code_closure(root: Path, script: Path, benchmarks: Path) -> set[Path]:
    """The script and every file of this checkout it imports, followed to the end."""
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            names = imported_names(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            raise AgeError(f"{path}: cannot read its imports ({type(exc).__name__})") from exc
        for name in names:
            found = module_file(root, name, benchmarks)
            if found is not None and found not in seen:
                todo.append(found)
    return seen


def benchmark_of(result: Path, scripts: dict[str, Path]) -> str | None:
    """The benchmark that wrote a results file: its JSON's "benchmark" field when that names a script, else the
    longest script name its file name starts with."""
    if result.suffix == ".json":
        try:
            named = json.loads(result.read_text()).get("benchmark")
        except (ValueError, AttributeError):
            named = None
        if isinstance(named, str) and named in scripts:
            return named
    matches = [n for n in scripts if result.stem == n or result.stem.startswith(n + "_")]
    return max(matches, key=len) if matches else None


def commits_since(root: Path, since: str, pathspecs: list[str] | tuple[str, ...]) -> list[Commit]:
    """Commits after `since` up to HEAD that change anything `pathspecs` match, newest first, with the paths each
    changed among them."""
    if not pathspecs:
        return []
    text = _git(root, "log", "-z", "--format=%x1e%H%x1f%cs%x1f%s", "--name-only", f"{since}..HEAD", "--",
                *pathspecs)
    commits = []
    for block in text.split("\x1e")[1:]:
        fields = block.split("\0")  # the header, then each changed path (the first after a newline)
        sha, date, subject = fields[0].split("\x1f", 2)
        changed = tuple(p.lstrip("\n") for p in fields[1:] if p.strip())
        commits.append(Commit(sha[:10], date, subject, changed))
    return commits


def stored_commit(root: Path, result: Path) -> tuple[str, str] | None:
    """(commit, date) that last changed a results file; None when it was never committed."""
    line = _git(root, "log", "-1", "--format=%H %cs", "--", result.relative_to(root).as_posix()).strip()
    return tuple(line.split(" ", 1)) if line else None


def _entry(commits: list[Commit]) -> dict:
    newest = commits[0] if commits else None
    return {"commits": len(commits),
            "newest": None if newest is None else {"commit": newest.sha, "date": newest.date,
                                                   "subject": newest.subject[:100]}}


def ages(results_dir: Path, only: tuple[str, ...] = ()) -> list[dict]:
    """Per results file, the commits since it was stored that changed its benchmark's code or the package's data."""
    root = repo_root(results_dir)
    benchmarks = results_dir.resolve().parent
    scripts = {p.stem: p for p in sorted(benchmarks.glob("*.py"))}
    results = sorted(p for p in results_dir.resolve().iterdir() if p.suffix in RESULT_SUFFIXES)
    if only:
        results = [p for p in results if p.stem in only or p.name in only]
    if not results:
        raise AgeError(f"{results_dir}: no results files" + (f" named {', '.join(only)}" if only else ""))
    # several results files share a benchmark (the round trips, the fps runs) or a storing commit
    closures: dict[str, list[str]] = {}
    data_since: dict[str, list[Commit]] = {}
    out = []
    for result in results:
        name = benchmark_of(result, scripts)
        stored = stored_commit(root, result)
        row = {"result": result.name, "benchmark": None if name is None else f"{name}.py",
               "stored": None if stored is None else {"commit": stored[0][:10], "date": stored[1]}}
        if name is None or stored is None:
            row["note"] = "no benchmark script matches its name" if name is None else "never committed"
            out.append(row)
            continue
        if name not in closures:
            closures[name] = sorted(p.relative_to(root).as_posix()
                                    for p in code_closure(root, scripts[name], benchmarks))
        code = closures[name]
        code_commits = commits_since(root, stored[0], code)
        if stored[0] not in data_since:
            data_since[stored[0]] = commits_since(root, stored[0], DATA_PATHSPECS)
        data_commits = data_since[stored[0]]
        changed = sorted({p for c in code_commits for p in c.paths})
        row.update({"code_files": len(code), "code": _entry(code_commits), "data": _entry(data_commits),
                    "changed_files": changed})
        out.append(row)
    return sorted(out, key=lambda r: (-r.get("code", {}).get("commits", -1) - r.get("data", {}).get("commits", 0),
                                      r["result"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent.parent / "benchmarks" / "results"),
                    help="the folder of stored results (default: this checkout's benchmarks/results)")
    ap.add_argument("--only", nargs="+", default=(), help="results files to look at (name or stem)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    try:
        rows = ages(Path(args.results), tuple(args.only))
    except AgeError as exc:
        print(f"results_age: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(rows, indent=2)
    print(text)
    if args.out:
        write_text_atomic(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
