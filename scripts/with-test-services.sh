#!/usr/bin/env bash
# Run a command with the services the test suite needs, each private to this run:
#   - a PulseAudio daemon with a null sink whose monitor is the default input: a real,
#     clocked microphone on a machine without a sound card (docs/protocols.md, "Audio");
#   - Xvfb on a free display, exported as VMSG_TEST_DISPLAY for tests that need a real
#     window (the rest run offscreen);
#   - a private D-Bus session with an unlocked gnome-keyring: a real Secret Service.
# Nothing here touches the user's own sound server, display or keyring.
set -euo pipefail

run_dir="$(mktemp -d /tmp/vmsg-test-services.XXXXXX)"
chmod 700 "$run_dir"
pids=()
# In CI a service that does not start is a failure, not a reason for tests to skip.
missing_service() {
    echo "test services: $1" >&2
    if [ "${CI:-}" = "true" ]; then
        echo "test services: CI needs it; stopping." >&2
        exit 1
    fi
}
cleanup() {
    for pid in "${pids[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    # --disallow-exit makes `pactl exit` a no-op, so stop the daemon by its pid file.
    if [ -f "$run_dir/pulse/pid" ]; then
        kill "$(cat "$run_dir/pulse/pid")" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
}
trap cleanup EXIT

# --- PulseAudio null sink (needs pulseaudio, pulseaudio-utils) ---
if command -v pulseaudio >/dev/null 2>&1; then
    export XDG_RUNTIME_DIR="$run_dir"
    pulseaudio -D -n --exit-idle-time=-1 --disallow-exit \
        --load=module-native-protocol-unix \
        --load="module-null-sink sink_name=vsink rate=48000" >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.1
    done
    if pactl info >/dev/null 2>&1; then
        pactl set-default-sink vsink
        pactl set-default-source vsink.monitor
        export PULSE_SERVER="unix:$run_dir/pulse/native"
        echo "test services: PulseAudio null sink ready (default input vsink.monitor)"
    else
        missing_service "warning: PulseAudio did not start; audio tests will skip"
    fi
else
    missing_service "warning: pulseaudio is not installed; audio tests will skip"
fi

# --- Xvfb ---
if command -v Xvfb >/dev/null 2>&1; then
    for n in $(seq 90 140); do
        [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
        Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
        pids+=("$!")
        for _ in $(seq 1 50); do
            [ -e "/tmp/.X11-unix/X$n" ] && break
            sleep 0.1
        done
        if [ -e "/tmp/.X11-unix/X$n" ]; then
            export VMSG_TEST_DISPLAY=":$n"
            echo "test services: Xvfb on $VMSG_TEST_DISPLAY"
        fi
        break
    done
    [ -n "${VMSG_TEST_DISPLAY:-}" ] || missing_service "warning: Xvfb did not start; window tests will skip"
else
    missing_service "warning: Xvfb is not installed; window tests will skip"
fi

# --- D-Bus session + gnome-keyring (Secret Service) ---
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
    exec 3>&1
    set +e
    dbus-run-session -- bash -c '
        eval "$(printf pass | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
        export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
        echo "test services: gnome-keyring unlocked on a private D-Bus session"
        exec "$@"
    ' bash "$@"
    rc=$?
    set -e
    exit "$rc"
fi
missing_service "warning: no D-Bus/gnome-keyring; keyring tests will skip"
set +e
"$@"
exit $?
