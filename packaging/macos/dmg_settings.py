"""dmgbuild settings: the "Video Messaging" disk image (the .app and an /Applications link).

Written for dmgbuild 1.6.7 (pinned in .github/workflows/release.yml). dmgbuild runs this
file with ``exec`` in a namespace that already holds its defaults and a dict ``defines``
of the ``-D key=value`` arguments; every name assigned here is a dmgbuild setting (helper
names start with ``_``, which dmgbuild does not read). Build it with
scripts/macos-sign-and-notarize.sh, or by hand::

    dmgbuild -s packaging/macos/dmg_settings.py -D app="dist/Video Messaging.app" \\
        "Video Messaging" "dist/Video-Messaging-0.1.0-macos-arm64.dmg"

Defines: ``app`` (the .app bundle, default ``dist/Video Messaging.app``), ``format``
(``UDZO``, zlib-compressed read-only; ``ULFO`` for lzfse), ``filesystem`` (``HFS+``, or
``APFS``). Setting names and values checked against dmgbuild's documentation,
https://dmgbuild.readthedocs.io/en/latest/settings.html (docs/settings.rst at tag v1.6.7)
and the defaults in dmgbuild 1.6.7's src/dmgbuild/core.py; tests/unit/test_packaging.py
holds that every name set here is one dmgbuild knows.
"""

import plistlib as _plistlib
from pathlib import Path as _Path

_defines = defines  # noqa: F821 - provided by dmgbuild when it runs this file
_app = _Path(_defines.get("app", "dist/Video Messaging.app"))

# Disk image: compressed read-only (the docs: "for disk images you intend to distribute
# over the Internet, you should probably stick to 'UDZO' and 'UDBZ'"); lzfse (ULFO) is
# the smaller alternative from macOS 10.11, well below the app's LSMinimumSystemVersion 12.0.
format = _defines.get("format", "UDZO")
filesystem = _defines.get("filesystem", "HFS+")

# Contents: the app, and a link to drag it onto.
files = [str(_app)]
symlinks = {"Applications": "/Applications"}
hide_extensions = [_app.name]

# The volume's icon: the app's own (CFBundleIconFile in its Info.plist), when present.
_info = _app / "Contents" / "Info.plist"
if _info.is_file():
    _icon_name = _plistlib.loads(_info.read_bytes()).get("CFBundleIconFile", "")
    if _icon_name:
        _icon = _app / "Contents" / "Resources" / _icon_name
        if not _icon.suffix:
            _icon = _icon.with_suffix(".icns")
        if _icon.is_file():
            icon = str(_icon)

# The window: icons only, no toolbar or sidebar, the app on the left of /Applications.
default_view = "icon-view"
show_status_bar = False
show_tab_view = False
show_toolbar = False
show_pathbar = False
show_sidebar = False
window_rect = ((200, 120), (540, 340))
icon_size = 128
text_size = 13
icon_locations = {
    _app.name: (140, 150),
    "Applications": (400, 150),
}
