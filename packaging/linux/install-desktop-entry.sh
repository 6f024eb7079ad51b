#!/bin/sh
# Put Video Messaging in this user's applications menu, from wherever this folder was
# unpacked (no root needed). Run it again after moving the folder; --remove takes it out.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor/scalable/apps"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$apps/video-messaging.desktop" "$icons/video-messaging.svg"
    echo "Video Messaging was taken out of the applications menu."
    exit 0
fi
# The Exec key quotes the path; these would need escapes the Desktop Entry spec defines.
case "$here" in
    *[\"\`\$\\%]*) echo "Move this folder to a path without \" \` \$ \\ or % first." >&2; exit 2 ;;
esac
mkdir -p "$apps" "$icons"
cp "$here/video-messaging.svg" "$icons/video-messaging.svg"
{ grep -v '^Exec=' "$here/video-messaging.desktop"; printf 'Exec="%s/video-messaging"\n' "$here"; } \
    > "$apps/video-messaging.desktop.tmp"
mv "$apps/video-messaging.desktop.tmp" "$apps/video-messaging.desktop"
if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$apps" || true
fi
echo "Video Messaging is in the applications menu ($apps/video-messaging.desktop)."
