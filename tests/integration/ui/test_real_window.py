"""A real window on a real (virtual) X display: the xcb platform plugin loads and paints.

Everything else in the UI tests runs offscreen; this one proves the Qt libraries the app
needs for a real desktop are present (CI runs it on Xvfb, see scripts/with-test-services.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import sys
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from app.ui.crash import CrashDialog

app = QApplication([])
dialog = CrashDialog("Something went wrong: ValueError: x", "Traceback ...")
dialog.show()
for _ in range(20):
    app.processEvents()
image = dialog.grab().toImage()
image.save(sys.argv[1])
w, h = image.width(), image.height()
colours = {image.pixel(x, y) for x in range(0, w, 7) for y in range(0, h, 7)}
print(QGuiApplication.platformName(), image.width(), image.height(), len(colours))
"""


@pytest.mark.needs_display
def test_crash_dialog_in_a_real_x_window(tmp_path: Path) -> None:
    display = os.environ.get("VMSG_TEST_DISPLAY")
    if not display:
        pytest.skip("no virtual display (dev.sh test starts Xvfb and sets VMSG_TEST_DISPLAY)")
    shot = tmp_path / "dialog.png"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(shot)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    platform, width, height, colours = done.stdout.split()
    assert platform == "xcb"
    assert int(width) >= 300 and int(height) >= 200
    assert int(colours) > 3  # text, buttons and frame were painted, not a blank rectangle
    assert shot.stat().st_size > 1000
