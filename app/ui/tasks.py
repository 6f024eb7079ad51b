"""The one way the GUI runs blocking work: a thread pool, with results and events as signals.

Widgets never wait on the network, the disk or a device. A page calls
:meth:`Tasks.run` with a function that takes a cancel event; the function runs on a worker
of the pool and the :class:`Task` it returns reports back on the GUI thread by signal
(``done(result)``, ``failed(AppError)``), so slots may touch widgets. Workflow events from
any thread go through an :class:`EventBridge`, whose :meth:`~EventBridge.post` never
blocks and whose signal is delivered on the GUI thread. An unexpected exception in a task
is a bug: it goes to the crash handler, which shows its dialog on the GUI thread too.

:meth:`Tasks.shutdown` (on quit) cancels every running task and waits for the pool.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app import crash
from app.errors import AppError

log = logging.getLogger(__name__)

T = TypeVar("T")


class EventBridge(QObject):
    """Workflow events from any thread, delivered on the GUI thread as ``received(object)``.

    (Not named ``event``: that would hide ``QObject.event``, through which Qt delivers
    every event to the object.)"""

    received = Signal(object)

    def post(self, event: object) -> None:
        """The workflow's ``on_event``: thread-safe, returns at once, never raises."""
        with contextlib.suppress(RuntimeError):  # the bridge was deleted while the app closes
            self.received.emit(event)


class Task(QObject):
    """One piece of work on the pool; its signals arrive on the GUI thread."""

    done = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancel = threading.Event()
        #: Asked for after quitting began: it never runs (what it would use is closing).
        self.refused = False
        self._finished = threading.Event()

    @property
    def running(self) -> bool:
        return not self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task ended (tests; never on the GUI thread in the app)."""
        return self._finished.wait(timeout)


class _Runnable(QRunnable):
    def __init__(
        self, task: Task, fn: Callable[[threading.Event], Any], closing: threading.Event
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.task = task
        self.fn = fn
        self.closing = closing

    def run(self) -> None:
        task = self.task
        if task.refused:
            # Asked for after quitting began (a late signal): what it would use is closing.
            # A task asked for earlier still runs, cancelled, while the services are open.
            log.info("%s: not started, the app is quitting", task.name)
            task._finished.set()
            self._emit(task.finished)
            return
        try:
            result = self.fn(task.cancel)
        except AppError as exc:
            log.info("%s: %s", task.name, exc.message)
            self._emit(task.failed, exc)
        except Exception:
            if self.closing.is_set() and task.cancel.is_set():
                # Cut off by quitting (what it used was being closed): the app is going
                # away, so no dialog; the log keeps the details.
                log.warning("%s ended by quitting", task.name, exc_info=True)
            else:
                # A bug: the crash handler logs it and shows the dialog on the GUI thread.
                crash.handle(*sys.exc_info())
            self._emit(task.failed, None)
        else:
            self._emit(task.done, result)
        finally:
            task._finished.set()
            self._emit(task.finished)

    @staticmethod
    def _emit(signal: Any, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the task object is gone (app closing)
            signal.emit(*args)


class Tasks(QObject):
    """The pool blocking work runs on (see the module docstring)."""

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 6) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._tasks: set[Task] = set()
        self._lock = threading.Lock()
        #: Set once the app quits: tasks are cancelled and what they use is closing.
        self.closing = threading.Event()

    def run(
        self,
        name: str,
        fn: Callable[[threading.Event], T],
        *,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[AppError | None], None] | None = None,
    ) -> Task:
        """Run ``fn(cancel)`` on the pool; ``on_done(result)`` or ``on_error(error)`` are
        called on the GUI thread (``error`` is None for a bug, already reported)."""
        task = Task(name, self)
        if self.closing.is_set():  # asked for while quitting (a late signal): never runs
            task.cancel.set()
            task.refused = True
        if on_done is not None:
            task.done.connect(on_done)
        if on_error is not None:
            task.failed.connect(on_error)
        task.finished.connect(lambda: self._forget(task))
        with self._lock:
            self._tasks.add(task)
        self.pool.start(_Runnable(task, fn, self.closing))
        return task

    def _forget(self, task: Task) -> None:
        with self._lock:
            self._tasks.discard(task)
        task.deleteLater()

    def running(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks if t.running]

    def cancel_all(self, timeout: float = 0.0) -> bool:
        """The app is quitting: cancel every task and give them ``timeout`` seconds to end
        while what they use is still open. True when none is left."""
        self.closing.set()
        for task in self.running():
            task.cancel.set()
        return bool(self.pool.waitForDone(int(timeout * 1000)))

    def shutdown(self, timeout: float = 15.0) -> bool:
        """Cancel every task and wait for the pool; True when everything ended."""
        return self.cancel_all(timeout)
