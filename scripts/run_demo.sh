#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run `avatar demo`; arguments go to it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AVATAR_VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh"
# from the caller's folder: relative --photo and -o paths are theirs, and the mp4 lands where they are
exec "$VENV/bin/avatar" demo "$@"
