#!/usr/bin/env bash
# The two commands of the README, for a fresh Debian/Ubuntu machine:
#
#   ./dev.sh run    set everything up and open the app on the built-in sandbox
#                   (the desktop window when there is a display, else the headless demo)
#   ./dev.sh test   set everything up and run the full test suite with its quality gates
#
# Both are idempotent. System packages are installed when run as root or with
# passwordless sudo; otherwise the exact `apt-get install` line is printed and the
# script stops. The Python environment lives in .venv (made from the system Python with
# --system-site-packages, so the GObject bindings msal-extensions needs for the Secret
# Service are visible; PyGObject cannot be built from PyPI without a compiler toolchain).
set -euo pipefail
cd "$(dirname "$0")"

RUN_PACKAGES=(python3 python3-venv python3-gi gir1.2-secret-1 libportaudio2
    libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libegl1 libgl1 libdbus-1-3 libx11-6)
TEST_PACKAGES=("${RUN_PACKAGES[@]}" pulseaudio pulseaudio-utils libasound2-plugins sox
    xvfb xdotool gnome-keyring dbus-x11 libsecret-tools chromium desktop-file-utils
    # The bundle: its OpenCV is built from source (scripts/build-opencv.sh); build.spec
    # strips libraries and trims ICU's data (binutils, icu-devtools).
    cmake ninja-build g++ python3-dev binutils icu-devtools)

usage() {
    echo "usage: ./dev.sh run | test [pytest arguments]" >&2
    exit 2
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || echo "$pkg"
    done
}

ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "dev.sh: not a Debian/Ubuntu system; install the equivalents of: $*" >&2
        return 0
    fi
    local missing
    missing="$(missing_packages "$@" | tr '\n' ' ')"
    [ -z "${missing// /}" ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            echo "dev.sh: these system packages are needed first:" >&2
            echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
            exit 1
        fi
    fi
    echo "dev.sh: installing system packages: $missing"
    "${sudo[@]}" apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends $missing
}

pick_python() {
    local candidate
    for candidate in /usr/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "dev.sh: Python 3.11 or newer is needed (sudo apt-get install python3)." >&2
    exit 1
}

ensure_venv() {
    local extras="$1"
    if [ ! -x .venv/bin/python ]; then
        local py
        py="$(pick_python)"
        echo "dev.sh: creating .venv with $py"
        "$py" -m venv --system-site-packages .venv
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    # Reinstall only when the dependency list changed (or the extras did).
    local stamp=".venv/.vmsg-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)$extras"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "dev.sh: installing Python packages (.venv)"
        .venv/bin/python -m pip install -q -e ".$extras"
        echo "$want" >"$stamp"
    fi
    if .venv/bin/python -m pip show opencv-python >/dev/null 2>&1; then
        echo "dev.sh: removing opencv-python (it clashes with PySide6; the headless build stays)"
        .venv/bin/python -m pip uninstall -q -y opencv-python
        .venv/bin/python -m pip install -q --force-reinstall --no-deps opencv-python-headless
    fi
}

cmd_run() {
    ensure_packages "${RUN_PACKAGES[@]}"
    ensure_venv ""
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
        exec .venv/bin/vmsg gui
    fi
    echo "dev.sh: no display found, so the desktop window cannot open."
    echo "dev.sh: running the headless demo instead (vmsg demo)."
    exec .venv/bin/vmsg demo
}

cmd_test() {
    ensure_packages "${TEST_PACKAGES[@]}"
    ensure_venv "[dev]"
    echo "== ruff check"
    .venv/bin/ruff check app tests benchmarks scripts packaging
    echo "== ruff format --check"
    .venv/bin/ruff format --check app tests benchmarks scripts packaging
    echo "== mypy --strict app (as on Linux, Windows and macOS)"
    .venv/bin/mypy
    .venv/bin/mypy --platform win32
    .venv/bin/mypy --platform darwin
    echo "== import-linter (the layers: front ends, workflow, domain packages, base)"
    .venv/bin/lint-imports
    echo "== pytest"
    set +e
    scripts/with-test-services.sh .venv/bin/python -m pytest "$@"
    local rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "dev.sh: pytest collected no tests; the suite is never empty, so this is a failure." >&2
        exit 1
    fi
    exit "$rc"
}

case "${1:-}" in
run) shift; cmd_run "$@" ;;
test) shift; cmd_test "$@" ;;
*) usage ;;
esac
