"""One way to retry a Kaltura call: back off, honour Retry-After, stop at once when told.

Every call an upload makes goes through :meth:`Retrier.call`. A network error (unreachable,
timed out, 5xx, 429: :class:`KalturaNetworkError`) waits the backoff's next delay and tries
again; the wait ends the moment the job's ``halt`` event is set (cancel, suspend, a failed
sibling chunk), raising :class:`Halted`. When the failed request may have reached the
server (its answer was lost), ``landed`` asks the server whether it was carried out before
anything is sent again, so a confirmed chunk or a created entry is never sent twice.
Kaltura's refusals (:class:`KalturaAPIError`) are answers, not faults: they pass through.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from app.kaltura.errors import KalturaNetworkError
from app.kaltura.policy import Backoff

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called before each wait: (what, the error, seconds to wait).
OnRetry = Callable[[str, KalturaNetworkError, float], None]


class Halted(Exception):
    """The job was told to stop while a call was being retried (not an error to report)."""


class Retrier:
    """Retries Kaltura calls for one job until they succeed or ``halt`` is set.

    ``max_attempts`` bounds the attempts (for clean-up after a cancel, which must end);
    by default a call is retried for as long as the job runs.
    """

    def __init__(
        self,
        backoff: Backoff,
        halt: threading.Event,
        *,
        on_retry: OnRetry | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.backoff = backoff
        self.halt = halt
        self.on_retry = on_retry
        self.max_attempts = max_attempts

    def check(self) -> None:
        if self.halt.is_set():
            raise Halted()

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        landed: Callable[[], T | None] | None = None,
        on_failure: Callable[[KalturaNetworkError], None] | None = None,
    ) -> T:
        """``fn()``, retried on network errors.

        ``landed`` is asked after a failure whose request may have been carried out; a
        value other than None is taken as the call's result. ``on_failure`` is told about
        each failed attempt (to count bytes that went nowhere).
        """
        attempts = 0
        while True:
            self.check()
            attempts += 1
            try:
                result = fn()
            except KalturaNetworkError as exc:
                if on_failure is not None:
                    on_failure(exc)
                if self.max_attempts is not None and attempts >= self.max_attempts:
                    raise
                delay = self.backoff.next_delay(exc.retry_after)
                log.info("%s failed (%s); retrying in %.2f s", what, exc.message, delay)
                if self.on_retry is not None:
                    self.on_retry(what, exc, delay)
                if self.halt.wait(delay):
                    raise Halted() from None
                if landed is not None and exc.maybe_processed:
                    found = landed()
                    if found is not None:
                        self.backoff.reset()
                        return found
                continue
            self.backoff.reset()
            return result
