#!/usr/bin/env bash
# Build the onedir bundle for this OS (build.spec) and check it with its own self-test.
#   scripts/build-bundle.sh            dist/video-messaging/ (+ a .tar.gz on Linux)
# Needs the dev venv (./dev.sh test builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || { echo "build-bundle: run ./dev.sh test once first (it builds .venv)" >&2; exit 2; }
rm -rf build/video-messaging dist/video-messaging
"$py" -m PyInstaller --noconfirm --log-level WARN build.spec
bundle=dist/video-messaging
echo "build-bundle: $(du -sh "$bundle" | cut -f1) unpacked in $bundle"
QT_QPA_PLATFORM=offscreen "$bundle/vmsg" --self-test
QT_QPA_PLATFORM=offscreen "$bundle/video-messaging" --self-test
if [ "$(uname)" = "Linux" ]; then
    cp resources/icons/video-messaging.svg "$bundle/video-messaging.svg"
    # The menu entry, and a script that installs it for the user from wherever the
    # folder is unpacked (packaging/linux/).
    cp packaging/linux/video-messaging.desktop packaging/linux/install-desktop-entry.sh "$bundle/"
    chmod +x "$bundle/install-desktop-entry.sh"
    version="$("$py" -c 'import app; print(app.__version__)')"
    tar -C dist -czf "dist/video-messaging-$version-linux-$(uname -m).tar.gz" video-messaging
    echo "build-bundle: $(du -h "dist/video-messaging-$version-linux-$(uname -m).tar.gz" | cut -f1) as tar.gz"
fi
