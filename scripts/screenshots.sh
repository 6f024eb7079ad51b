#!/usr/bin/env bash
# Screenshots of every screen into docs/screenshots/ (or the folder given): a private Xvfb
# display with a window manager (openbox) and a system tray (trayer), then
# scripts/screenshots.py on it. Needs: apt-get install xvfb openbox trayer
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
for n in $(seq 150 190); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
    break
done
Xvfb ":$n" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
pids=("$!")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
export DISPLAY=":$n" QT_QPA_PLATFORM=xcb
openbox >/dev/null 2>&1 &
pids+=("$!")
if command -v trayer >/dev/null 2>&1; then
    trayer --edge top --align right --widthtype request --height 24 --SetDockType true >/dev/null 2>&1 &
    pids+=("$!")
fi
sleep 1
.venv/bin/python scripts/screenshots.py "$out"
