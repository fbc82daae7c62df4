"""Batch builds: photos an hour with one builder, and with worker processes (`avatar build FOLDER -o OUT --jobs N`).

    PYTHONPATH=. python benchmarks/build_batch.py [--copies 4] [--jobs 1,2] [--out result.json]

The photos are the astronaut and grace_hopper.jpg, `--copies` of each under distinct names (each is built in full:
nothing is cached between photos). For each job count: the wall time of the whole batch from the call (the models'
and the workers' start included), seconds per photo, and whether every .glb is byte for byte the one the first job
count wrote (builds are deterministic, whichever worker makes them). The machine's load is recorded: on a shared
machine other work slows the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from result_file import emit, machine_record

from avatar_engine.build.batch import build_batch

ROOT = Path(__file__).resolve().parents[1]


def photo_folder(folder: Path, copies: int) -> list[Path]:
    import matplotlib

    sources = {"astronaut": ROOT / "assets" / "photos" / "astronaut.png",
               "grace": Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"}
    photos = []
    for k in range(copies):
        for name, source in sources.items():
            photos.append(folder / f"{name}_{k}{source.suffix}")
            shutil.copy(source, photos[-1])
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of each of the two photos")
    parser.add_argument("--jobs", default="1,2", help="job counts to time, the first one the reference")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build_batch.json")
    args = parser.parse_args()
    runs, reference = {}, None
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        photos = photo_folder(Path(tmp), args.copies)
        for jobs in (int(j) for j in args.jobs.split(",")):
            out = Path(tmp) / f"out_{jobs}"
            out.mkdir()
            t0 = time.perf_counter()
            items = build_batch(photos, out, jobs=jobs)
            wall = time.perf_counter() - t0
            files = {p.name: p.read_bytes() for p in sorted(out.glob("*.glb"))}
            reference = reference or files
            runs[f"jobs_{jobs}"] = {"wall_s": round(wall, 2), "s_per_photo": round(wall / len(photos), 3),
                                    "photos_per_hour": round(3600 * len(photos) / wall),
                                    "built": sum(i.error is None for i in items),
                                    "same_files_as_first": files == reference}
            print(jobs, runs[f"jobs_{jobs}"], flush=True)
    emit({"benchmark": "build_batch", "photos": len(photos), "runs": runs,
          "machine": machine_record(load_before)}, args.out)


if __name__ == "__main__":
    main()
