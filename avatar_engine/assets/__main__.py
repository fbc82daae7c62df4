"""`python -m avatar_engine.assets [status|fetch] [NAME ...]`: show or fill the model cache."""

from __future__ import annotations

import argparse
import sys
import time

from avatar_engine.assets.registry import default_registry
from avatar_engine.errors import ModelError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avatar_engine.assets", description=__doc__)
    parser.add_argument("action", nargs="?", choices=("status", "fetch"), default="status")
    parser.add_argument("names", nargs="*", help="models to act on (default: all)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    registry = default_registry()
    unknown = [n for n in args.names if n not in registry.records]
    if unknown:  # a name the registry lacks is a bad argument (exit 2), not a model that failed
        print(f"error: unknown model {', '.join(unknown)}; known: {', '.join(registry.records)}", file=sys.stderr)
        return 2
    try:
        names = [registry.record(n).name for n in args.names] or list(registry.records)
        if args.action == "fetch":
            for name in names:
                start = time.perf_counter()
                path = registry.model_path(name)
                if not args.quiet:
                    print(f"ok       {name:<22} {path}  ({time.perf_counter() - start:.1f} s)")
            return 0
        bad = 0
        for name, status, path in registry.cache_state():
            if name in names:
                bad += status != "ok"
                if not args.quiet or status != "ok":
                    print(f"{status:<8} {name:<22} {path}")
        return 1 if bad else 0
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
