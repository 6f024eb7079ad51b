"""What the workflow tells a front end while it works: one callback, typed events.

A front end passes one ``on_event`` callable. It receives, from worker threads:

- the recorder's events (:mod:`app.recorder.events`: countdown, started, levels, health
  problems, stopped);
- the uploader's :class:`~app.kaltura.uploader.UploadEvent` (progress, retrying, done);
- the outbox pump's :class:`~app.mail.pump.OutboxEvent` (one per recipient state change);
- the workflow's own: :class:`LinkReady` (the share link works, possibly before the take
  stops) and :class:`Notice` (a line of progress or a warning).

The callback must neither block nor raise: a desktop front end posts the event to its GUI
thread and returns. :func:`safe_callback` wraps it so a bug in it is logged, never fatal
to a recording or an upload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

#: The front end's callback: any event of this module's list above.
OnEvent = Callable[[object], None]


@dataclass(frozen=True)
class LinkReady:
    """The video's entry exists: its links work now (while recording, when streaming)."""

    entry_id: str
    landing_url: str
    thumbnail_url: str


@dataclass(frozen=True)
class Notice:
    """A line for the user: what is happening, or a warning."""

    message: str
    level: Literal["info", "warning"] = "info"
    #: What it is about, for a front end that treats some kinds differently
    #: ("token-storage": where the sign-in is kept); "" for the rest.
    topic: str = ""


def safe_callback(callback: OnEvent | None) -> OnEvent:
    """``callback`` wrapped so it can never raise into the caller (None: a no-op)."""

    def emit(event: object) -> None:
        if callback is None:
            return
        try:
            callback(event)
        except Exception:  # a front end's bug must not break the work
            log.exception("workflow event callback failed")

    return emit
