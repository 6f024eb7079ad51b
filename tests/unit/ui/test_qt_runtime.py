"""The Qt binding the app runs on keeps Python objects alive across signals and slots.

PySide6 6.12.0 drops a reference to ``True`` on every call of a Python slot: after a few
thousand signals the interpreter aborts ("Fatal Python error: bool_dealloc"), which in
the app meant a crash after about 30 s of recording (the preview and the level meter emit
dozens of signals a second). pyproject.toml excludes that version; this test runs the
pattern in a child process, so a broken binding fails the test instead of killing pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import sys, threading
from PySide6.QtCore import QCoreApplication, QObject, Signal

app = QCoreApplication([])

class Source(QObject):
    value = Signal(object)
    tick = Signal()

class Sink(QObject):
    def __init__(self):
        super().__init__()
        self.n = 0
    def on_value(self, v):
        self.n += 1
    def on_tick(self):
        self.n += 1

source, sink = Source(), Sink()
source.value.connect(sink.on_value)
source.tick.connect(sink.on_tick)
source.tick.connect(lambda: None)
before = sys.getrefcount(True), sys.getrefcount(None)
for i in range(50_000):
    source.value.emit(i)
    source.tick.emit()
def worker():
    for i in range(20_000):
        source.value.emit((i, True, None))
t = threading.Thread(target=worker)
t.start()
t.join()
for _ in range(100):
    app.processEvents()
after = sys.getrefcount(True), sys.getrefcount(None)
print(sink.n, after[0] - before[0], after[1] - before[1])
"""


def test_python_slots_keep_their_references() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[:600]
    calls, true_delta, none_delta = map(int, done.stdout.split())
    assert calls == 120_000
    # A handful of references come and go with the objects made; thousands lost is the bug.
    assert abs(true_delta) < 100 and abs(none_delta) < 100, (true_delta, none_delta)
