#!/usr/bin/env bash
# Set up (scripts/setup.sh --test), then run the test suite; arguments go to pytest.
#   bash scripts/run_tests.sh                 all tests
#   bash scripts/run_tests.sh -k doctor -x    pytest options pass through
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AVATAR_VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh" --test
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q "$@"
