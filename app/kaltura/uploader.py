"""Resumable uploads to Kaltura that follow a growing recording, survive faults and restarts.

One :class:`UploadJob` uploads one local file into one upload token (docs/protocols.md,
"Kaltura: upload tokens"). This module is the chunk scheduler; the rest of an upload lives
beside it:

- :mod:`app.kaltura.upload_state`: what a job writes down to resume after a restart;
- :mod:`app.kaltura.file_guard`: the local file, read at offsets, proven unchanged;
- :mod:`app.kaltura.upload_calls`: the Kaltura calls, each retried by
- :mod:`app.kaltura.retry`: the one retry helper, which a cancel interrupts at once.

The steps of a job:

1. **Create** (each step persisted before the next, so a restart never repeats one):
   ``uploadToken.add``, ``media.add`` (name, description, tags, referenceId) and
   ``media.addContent`` with the token, so the entry id and its share link exist while the
   take is still being recorded. (A replacement upload, after a trim, skips the entry and
   calls ``media.updateContent`` at the end instead, so links already sent keep working.)
2. **Stream**: the recorder only ever appends to its fragmented MP4, so every byte below
   the file's current size is final. Completed bytes go up in chunks: the first with
   ``resume=false`` (it must), the rest ``resume=true`` with an explicit ``resumeAt``, so
   chunks may run in parallel and the server merges them. A file the app records is *fed*:
   the recorder says how many bytes are final (:meth:`UploadJob.feed`, from its
   ``FileGrew`` events) and the job sends them at once, without polling; any other growing
   file is looked at every ``poll_seconds``. At stop only a small tail is left.
   The caller says when the file is complete with :meth:`UploadJob.finish`.
3. **Finish**: a last chunk (possibly empty) with ``finalChunk=true`` at ``resumeAt=size``;
   its read timeout covers the server's 45 s wait for parked chunks.

Faults: network errors, 5xx, 429 and timeouts are retried with capped exponential backoff
and jitter for as long as the job is not cancelled. After an ambiguous failure (the request
may have been stored, the answer lost) ``uploadToken.get`` says whether the chunk landed,
so confirmed bytes are never sent twice. The KS is renewed by the session.

Durability: after every confirmed chunk the state is rewritten atomically.
:meth:`Uploader.resume_pending` at start-up picks up every unfinished job; each resumes
from ``uploadToken.get``'s ``uploadedFileSize``, never from its own notes.

Progress and health are :class:`UploadEvent` values given to ``on_event`` (from the job's
thread); :meth:`UploadJob.cancel` stops and deletes the token and the entry (unless asked to
keep the entry); :meth:`UploadJob.suspend` stops and keeps everything, to resume later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from app import system
from app.kaltura.errors import (
    KalturaAPIError,
    KalturaNetworkError,
    UploadCancelled,
    UploadError,
    UploadSuspended,
)
from app.kaltura.file_guard import PROBE_BYTES, FileGuard, same_start
from app.kaltura.policy import Backoff, ChunkPolicy
from app.kaltura.retry import Halted, Retrier
from app.kaltura.session import Caller
from app.kaltura.upload_calls import (
    TOKEN_CLOSED,
    TOKEN_DELETED,
    TOKEN_FULL,
    TOKEN_TIMED_OUT,
    UploadCalls,
    UploadTimeouts,
    field,
)
from app.kaltura.upload_state import FileIdentity, JobStatus, UploadState, UploadStore

__all__ = [
    "PROBE_BYTES",
    "EntryMetadata",
    "FileIdentity",
    "JobStatus",
    "UploadEvent",
    "UploadJob",
    "UploadResult",
    "UploadState",
    "UploadStore",
    "UploadTimeouts",
    "Uploader",
]

log = logging.getLogger(__name__)

EventKind = Literal[
    "created", "progress", "retrying", "finalizing", "done", "failed", "cancelled", "warning"
]


@dataclass(frozen=True)
class EntryMetadata:
    name: str
    description: str = ""
    tags: str = ""
    reference_id: str = ""


@dataclass(frozen=True)
class UploadEvent:
    """What a UI shows: one job's progress or state change."""

    kind: EventKind
    job_id: str
    entry_id: str
    #: Bytes the server has confirmed (contiguous from 0).
    confirmed: int
    #: Bytes of the local file now (grows while recording).
    available: int
    #: The final size, once the file is complete; None while recording.
    total: int | None
    #: Recent upload rate in bytes per second.
    rate: float
    #: Seconds to go at ``rate``, once the total is known.
    eta: float | None
    message: str = ""
    retry_in: float | None = None


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    entry_id: str
    token_id: str
    size: int
    #: File bytes put on the wire by this job in this process, failed attempts included.
    bytes_sent: int
    #: Bytes of chunk attempts that failed (network error, 5xx, lost answer).
    failed_chunk_bytes: int
    #: The offset the server reported when this process (re)started the job.
    resumed_from: int


class _Ranges:
    """Byte ranges the server acknowledged (merged, sorted)."""

    def __init__(self) -> None:
        self._r: list[tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        out: list[tuple[int, int]] = []
        for s, e in sorted([*self._r, (start, end)]):
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], e))
            else:
                out.append((s, e))
        self._r = out

    def contiguous_from(self, start: int) -> int:
        end = start
        for s, e in self._r:
            if s <= end:
                end = max(end, e)
        return end

    def clear(self) -> None:
        self._r = []


class _Resend(Exception):
    """Internal: the final chunk found bytes missing; resend from the server's offset."""


class UploadJob:
    """One upload. Drive it with :meth:`run` (blocking) or via :meth:`Uploader.begin`."""

    def __init__(
        self,
        uploader: Uploader,
        state: UploadState,
        *,
        resuming: bool,
        fed: bool = False,
    ) -> None:
        self.uploader = uploader
        self.state = state
        self.resuming = resuming
        self.policy = uploader.policy_factory()
        #: Set by cancel() and suspend(); also set to stop sibling chunks when one fails.
        self._halt = threading.Event()
        self._cancel = threading.Event()
        self._suspended = threading.Event()
        self._keep_entry = False
        self._stale_mark: tuple[int, float] | None = None
        self._acked = 0
        self._complete = threading.Event()
        if state.file_complete:
            self._complete.set()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        #: Bytes the recorder said are final (fed mode); None: poll the file's size.
        self._fed: int | None = 0 if fed else None
        self._guard = FileGuard(state.path, state.identity, resuming=resuming)
        self._ranges = _Ranges()
        self._result: UploadResult | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.bytes_sent = 0
        self.failed_chunk_bytes = 0
        self.resumed_from = 0
        self._rate_window: list[tuple[float, int]] = []
        self._first_sent = state.confirmed > 0
        self.retrier = Retrier(uploader.backoff_factory(), self._halt, on_retry=self._on_retry)
        self.calls = UploadCalls(uploader.caller, self.retrier, uploader.timeouts)
        if state.entry_id and (state.content_attached or state.mode == "replace"):
            self._ready.set()

    # ------------------------------------------------------------------ public API

    @property
    def job_id(self) -> str:
        return self.state.job_id

    @property
    def entry_id(self) -> str:
        return self.state.entry_id

    @property
    def token_id(self) -> str:
        return self.state.token_id

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def feed(self, final_bytes: int) -> None:
        """The recorder says the first ``final_bytes`` of the file are final: send them."""
        with self._lock:
            if self._fed is None:
                self._fed = 0
            self._fed = max(self._fed, int(final_bytes))
        self._wake.set()

    def finish(self, final_size: int | None = None) -> None:
        """The file is complete (the recorder stopped): upload the rest and finalize.

        ``final_size`` is the size the recorder wrote; when given, a file of another size
        at the end is treated as changed.
        """
        with self._lock:
            if final_size is not None:
                self.state.final_size = int(final_size)
            self.state.file_complete = True
        self._complete.set()
        self._wake.set()

    def cancel(self, *, keep_entry: bool = False) -> None:
        """Stop; delete the upload token, and the entry unless ``keep_entry``."""
        self._keep_entry = keep_entry
        self._cancel.set()
        self._halt.set()
        self._wake.set()
        if self._thread is None and not self._done.is_set():
            # Not running: clean up here.
            self._cleanup_cancelled()

    def suspend(self) -> None:
        """Stop without deleting anything: the job resumes at the next start-up."""
        self._suspended.set()
        self._halt.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job's thread to end; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def wait_entry(self, timeout: float | None = None) -> str:
        """The entry id, once the entry exists and has the token attached."""
        if not self._ready.wait(timeout):
            raise TimeoutError("the entry was not created in time")
        if not self.state.entry_id:
            self._raise_if_failed()
        return self.state.entry_id

    def wait(self, timeout: float | None = None) -> UploadResult:
        """Block until done; return the result or raise the job's error."""
        if not self._done.wait(timeout):
            raise TimeoutError("the upload is still running")
        self._raise_if_failed()
        assert self._result is not None
        return self._result

    def start_thread(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run_quietly, name=f"upload-{self.job_id[:8]}", daemon=True
        )
        self._thread.start()

    def run(self) -> UploadResult:
        """Do the whole job in this thread."""
        try:
            result = self._run()
        except BaseException as exc:
            self._error = exc
            raise
        else:
            self._result = result
            return result
        finally:
            self._guard.close()
            self._done.set()
            self._ready.set()
            self.uploader._forget(self)

    # ------------------------------------------------------------------ the job

    def _run_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.run()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> UploadResult:
        st = self.state
        try:
            self._guard.open()
            self._create()  # each step is skipped when a previous run did it
            self._sync_with_server(first=True)
            if not st.finalized:
                self._pump()
            self._after_upload()
        except (Halted, UploadCancelled):
            if self._cancel.is_set():
                self._cleanup_cancelled()
                raise UploadCancelled(
                    "The upload was cancelled.",
                    hint="The video was not kept in Kaltura."
                    if not self._keep_entry
                    else "The entry was kept in Kaltura.",
                ) from None
            if self._suspended.is_set():
                raise UploadSuspended(
                    "The upload was paused.",
                    hint="It continues from where it stopped the next time the app starts.",
                ) from None
            raise
        except UploadError as exc:
            self._fail(exc.message)
            raise
        except Exception as exc:
            self._fail(str(exc))
            raise
        st.status = "done"
        size = st.final_size or 0
        self.uploader.store.remove(st.job_id)
        self._emit("done", message="Upload complete.")
        return UploadResult(
            job_id=st.job_id,
            entry_id=st.entry_id,
            token_id=st.token_id,
            size=size,
            bytes_sent=self.bytes_sent,
            failed_chunk_bytes=self.failed_chunk_bytes,
            resumed_from=self.resumed_from,
        )

    def _fail(self, message: str) -> None:
        # Kept on disk as "failed" (a UI can list it); resume_pending skips it.
        self.state.status = "failed"
        self.state.error = message
        with contextlib.suppress(OSError):
            self.uploader.store.save(self.state)
        self._emit("failed", message=message)

    def _persist(self, *, durable: bool = True) -> None:
        self.uploader.store.save(self.state, durable=durable)

    def _on_retry(self, what: str, exc: KalturaNetworkError, delay: float) -> None:
        self._emit("retrying", message=f"{what}: {exc.message}", retry_in=delay)

    # ------------------------------------------------------------------ creation

    def _create(self) -> None:
        st = self.state
        if not st.token_id:
            t0 = time.monotonic()
            size = st.final_size if st.file_complete else None
            st.token_id = self.calls.add_token(Path(st.path).name, size)
            self.policy.record_latency(time.monotonic() - t0)
            self._persist()
        if st.mode == "replace":
            self._ready.set()
            return
        if not st.entry_id:
            md = st.metadata
            st.entry_id = self.calls.add_entry(
                {
                    "objectType": "KalturaMediaEntry",
                    "mediaType": 1,
                    "name": md.get("name") or Path(st.path).stem,
                    "description": md.get("description", ""),
                    "tags": md.get("tags", ""),
                    "referenceId": md.get("reference_id") or st.job_id,
                }
            )
            self._persist()
        if not st.content_attached:
            self.calls.give_token(
                "addContent", st.entry_id, st.token_id, "ENTRY_ALREADY_WITH_CONTENT"
            )
            st.content_attached = True
            self._persist()
        self._ready.set()
        self._emit("created", message="The entry exists; its link works now.")
        if st.category_id is not None and not st.category_done:
            self._assign_category()

    def _assign_category(self) -> None:
        st = self.state
        assert st.category_id is not None
        warning = self.calls.add_to_category(st.entry_id, st.category_id)
        if warning:
            self._emit("warning", message=warning)
        st.category_done = True
        self._persist()

    # ------------------------------------------------------------------ streaming

    def _sync_with_server(self, *, first: bool = False) -> dict[str, Any]:
        """Adopt the server's confirmed offset (and check the file still matches)."""
        st = self.state
        t0 = time.monotonic()
        try:
            token = self.calls.get_token(st.token_id)
        except KalturaAPIError as exc:
            if exc.code == "UPLOAD_TOKEN_NOT_FOUND":
                raise UploadError(
                    "Kaltura no longer has this upload (its token is gone), so it cannot resume.",
                    hint="Upload the video again.",
                ) from exc
            raise
        self.policy.record_latency(time.monotonic() - t0)
        status = int(token.get("status") or 0)
        server = int(token.get("uploadedFileSize") or 0)
        if status in (TOKEN_TIMED_OUT, TOKEN_DELETED):
            raise UploadError(
                "Kaltura dropped this upload (it timed out or was deleted), so it cannot resume.",
                hint="Upload the video again.",
            )
        if status in (TOKEN_FULL, TOKEN_CLOSED):
            size = st.final_size if st.final_size is not None else server
            if server == size and st.file_complete:
                st.final_size = server
                st.finalized = True
        if first:
            if self.resuming and (st.confirmed or server):
                # The server's bytes came from the file the job began with, whatever this
                # run noted (maybe nothing, if it died first): they must be this file's.
                if self._guard.identity.head_len:
                    self._guard.verify()
                elif server and not st.finalized:
                    self._guard.same_file()  # a state that noted no content
            self.resumed_from = server
        if server < st.confirmed:
            log.warning(
                "server has %d bytes, we noted %d; using the server's", server, st.confirmed
            )
        if server != st.confirmed:
            st.confirmed = server
            self._ranges.clear()
        self._ranges.add(0, server)
        if server > 0:
            self._first_sent = True
            self._guard.remember(server)
            self._guard.probe_at(server)
        self._persist()
        return token

    def _available(self, complete: bool) -> int:
        """The bytes that may be sent now (the file's size, or what the recorder fed)."""
        st = self.state
        size = self._guard.size_now(
            confirmed=st.confirmed, final_size=st.final_size if st.file_complete else None
        )
        if complete:
            return size
        with self._lock:
            fed = self._fed
        return size if fed is None else min(size, fed)

    def _pump(self) -> None:
        """Send chunks until the file is complete and the final chunk is confirmed."""
        st = self.state
        next_offset = st.confirmed
        inflight: dict[Future[tuple[int, int]], tuple[int, int]] = {}
        pool = ThreadPoolExecutor(
            max_workers=self.policy.max_parallel, thread_name_prefix=f"chunk-{st.job_id[:6]}"
        )
        try:
            while True:
                # Cleared before looking, so a feed()/finish() from now on is never missed.
                self._wake.clear()
                if self._halt.is_set():
                    raise Halted()
                complete = self._complete.is_set()
                size = self._available(complete)
                if complete and st.final_size is None:
                    st.final_size = size
                end = st.final_size if complete and st.final_size is not None else size
                fed = self._fed is not None
                # Chunks that failed for good are re-planned from the lowest missing byte.
                next_offset = max(next_offset, st.confirmed)
                limit = 1 if not self._first_sent else self.policy.parallel()
                while len(inflight) < limit:
                    chunk = self.policy.chunk_size()
                    avail = end - next_offset
                    if complete and avail <= chunk:
                        break  # the rest goes with the final chunk
                    if avail <= 0:
                        break
                    if avail >= chunk:
                        n = chunk
                    elif not inflight and (
                        fed  # fed bytes are final: send them as soon as the pipe is idle
                        or avail >= self.uploader.growing_min_bytes
                        or self._stale(next_offset)
                    ):
                        n = avail
                    else:
                        break
                    first = not self._first_sent
                    fut = pool.submit(self._send_chunk, next_offset, n, first)
                    inflight[fut] = (next_offset, n)
                    next_offset += n
                    if first:
                        break
                if complete and not inflight and end - st.confirmed <= self.policy.chunk_size():
                    if next_offset > st.confirmed:
                        next_offset = st.confirmed  # something is missing: resend from there
                        continue
                    try:
                        self._final_chunk(st.confirmed, end)
                    except _Resend:
                        self._sync_with_server()
                        next_offset = st.confirmed
                        continue
                    return
                if inflight:
                    done, _ = wait(list(inflight), timeout=0.25, return_when=FIRST_COMPLETED)
                    for fut in done:
                        off, n = inflight.pop(fut)
                        fut.result()  # raises cancellation / file errors
                        self._first_sent = True
                        with self._lock:
                            self._ranges.add(off, off + n)
                        self._acked += n
                    if done:
                        self._after_confirmations()
                elif fed and not complete:
                    self._wake.wait()  # the next feed(), finish(), cancel() or suspend()
                else:
                    self._wake.wait(self.uploader.poll_seconds)
        finally:
            if inflight:
                self._halt.set()  # failing: stop the other workers' retries
            pool.shutdown(wait=True, cancel_futures=True)

    def _stale(self, offset: int) -> bool:
        """While recording, a small remainder that stopped growing is sent anyway."""
        now = time.monotonic()
        last = self._stale_mark
        if last is None or last[0] != offset:
            self._stale_mark = (offset, now)
            return False
        return now - last[1] >= self.uploader.idle_flush_seconds

    def _after_confirmations(self) -> None:
        st = self.state
        with self._lock:
            local = self._ranges.contiguous_from(0)
        if local > st.confirmed:
            st.confirmed = local
            self._guard.remember(local)
            self._persist(durable=False)
        self._note_rate(self._acked)
        self._emit("progress")

    def _count_attempt(self, length: int) -> None:
        with self._lock:
            self.bytes_sent += length

    def _count_failure(self, length: int) -> None:
        with self._lock:
            self.failed_chunk_bytes += length

    def _send_chunk(self, offset: int, length: int, first: bool) -> tuple[int, int]:
        """One chunk, retried until it is confirmed (or the job stops)."""
        st = self.state
        data = self._guard.read_at(offset, length)
        self._guard.note_sent(offset + length, data)
        if offset == 0 and not self._guard.identity.head_len:
            self._guard.note_head(data)
            self._persist()  # before the server has it (the first chunk goes alone)
        params = {
            "uploadTokenId": st.token_id,
            "resume": not first,
            "finalChunk": False,
            "resumeAt": offset,
        }
        started = [time.monotonic()]

        def attempt() -> None:
            started[0] = time.monotonic()
            self._count_attempt(length)

        def landed() -> dict[str, Any] | None:
            return {} if self._landed(offset + length) else None

        try:
            token = self.calls.upload_chunk(
                f"chunk at {offset}",
                params,
                data,
                filename=Path(st.path).name,
                final=False,
                landed=landed,
                on_attempt=attempt,
                on_failure=lambda _exc: self._count_failure(length),
            )
        except KalturaAPIError as exc:
            if exc.code == "UPLOAD_TOKEN_CANNOT_RESUME" and not first:
                # The server lost our first chunk (replaced data): start over at 0.
                raise UploadError(
                    "Kaltura lost the beginning of this upload.", hint="Upload again."
                ) from exc
            raise
        if token:  # an answer, not a lost one found to have landed
            self.policy.record_chunk(length, time.monotonic() - started[0])
        server = int(field(token, "uploadedFileSize", 0) or 0)
        with self._lock:
            if server > st.confirmed:
                self._ranges.add(0, server)
        return offset, length

    def _landed(self, end: int) -> bool:
        """After an ambiguous failure: does the server have everything below ``end``?"""
        try:
            token = self.calls.get_token(self.state.token_id)
        except KalturaAPIError:
            return False
        server = int(token.get("uploadedFileSize") or 0)
        with self._lock:
            if server > self.state.confirmed:
                self._ranges.add(0, server)
        return server >= end

    def _final_chunk(self, offset: int, end: int) -> None:
        st = self.state
        length = end - offset
        data = self._guard.read_at(offset, length) if length else b""
        self._guard.verify()
        self._emit("finalizing")
        params = {
            "uploadTokenId": st.token_id,
            "resume": self._first_sent,
            "finalChunk": True,
            "resumeAt": offset,
        }
        try:
            token = self.calls.upload_chunk(
                "final chunk",
                params,
                data,
                filename=Path(st.path).name,
                final=True,
                landed=lambda: {"landed": True} if self._final_landed(end) else None,
                on_attempt=lambda: self._count_attempt(length),
                on_failure=lambda _exc: self._count_failure(length),
            )
        except KalturaAPIError as exc:
            landed_anyway = exc.code in (
                "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD",
                "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            ) and self._final_landed(end)
            if not landed_anyway:
                if exc.code == "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE":
                    # A parked chunk never arrived: resend what the server lacks.
                    raise _Resend() from exc
                raise
        else:
            if not token.get("landed"):
                server = int(field(token, "uploadedFileSize", 0) or 0)
                status = int(field(token, "status", 0) or 0)
                complete = server == end and status in (TOKEN_FULL, TOKEN_CLOSED)
                if not complete and not self._final_landed(end):
                    raise UploadError(
                        f"Kaltura stored {server} of {end} bytes after the last chunk.",
                        hint="Upload the video again.",
                    )
        st.confirmed = end
        st.finalized = True
        self._guard.remember(end)
        self._persist()
        self._acked += length
        self._note_rate(self._acked)
        self._emit("progress")

    def _final_landed(self, end: int) -> bool:
        try:
            token = self.calls.get_token(self.state.token_id)
        except KalturaAPIError:
            return False
        status = int(token.get("status") or 0)
        return int(token.get("uploadedFileSize") or 0) == end and status in (
            TOKEN_FULL,
            TOKEN_CLOSED,
        )

    def _after_upload(self) -> None:
        st = self.state
        if st.mode == "replace":
            # A retry whose first answer was lost finds the token already consumed.
            self.calls.give_token(
                "updateContent",
                st.entry_id,
                st.token_id,
                "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY",
            )
        if st.category_id is not None and not st.category_done:
            self._assign_category()

    # ------------------------------------------------------------------ cancel

    def _cleanup_cancelled(self) -> None:
        st = self.state
        if st.status == "cancelled":
            return
        st.status = "cancelled"
        problems = []
        if st.token_id and not st.finalized:  # a finalized token was consumed by the entry
            problems.append(
                self.calls.delete(
                    "upload token",
                    "uploadToken",
                    {"uploadTokenId": st.token_id},
                    "UPLOAD_TOKEN_NOT_FOUND",
                )
            )
        if st.entry_id and not self._keep_entry and st.mode != "replace":
            problems.append(
                self.calls.delete("entry", "media", {"entryId": st.entry_id}, "ENTRY_ID_NOT_FOUND")
            )
        self.uploader.store.remove(st.job_id)
        self._done.set()
        self._ready.set()
        msg = "Upload cancelled."
        if any(problems):
            msg += " Could not delete: " + "; ".join(p for p in problems if p)
        self._emit("cancelled", message=msg)

    # ------------------------------------------------------------------ events

    def _note_rate(self, acked: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._rate_window.append((now, acked))
            cutoff = now - 5.0
            while len(self._rate_window) > 2 and self._rate_window[0][0] < cutoff:
                self._rate_window.pop(0)

    def _rate(self) -> float:
        with self._lock:
            w = list(self._rate_window)
        if len(w) < 2 or w[-1][0] <= w[0][0]:
            return 0.0
        return max(0.0, (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0]))

    def _emit(self, kind: EventKind, *, message: str = "", retry_in: float | None = None) -> None:
        cb = self.uploader.on_event
        if cb is None:
            return
        st = self.state
        total = st.final_size if st.file_complete else None
        rate = self._rate()
        eta = None
        if total is not None and rate > 0:
            eta = max(0.0, (total - st.confirmed) / rate)
        on_disk = self._guard.size_on_disk()
        event = UploadEvent(
            kind=kind,
            job_id=st.job_id,
            entry_id=st.entry_id,
            confirmed=st.confirmed,
            available=st.confirmed if on_disk is None else on_disk,
            total=total,
            rate=rate,
            eta=eta,
            message=message,
            retry_in=retry_in,
        )
        try:
            cb(event)
        except Exception:  # a UI callback must never break the upload
            log.exception("upload event callback failed")


class Uploader:
    """Starts, resumes and tracks upload jobs for one Kaltura session."""

    def __init__(
        self,
        caller: Caller,
        *,
        state_dir: Path,
        on_event: Callable[[UploadEvent], None] | None = None,
        timeouts: UploadTimeouts | None = None,
        policy_factory: Callable[[], ChunkPolicy] = ChunkPolicy,
        backoff_factory: Callable[[], Backoff] = Backoff,
        growing_min_bytes: int = 64 * 1024,
        idle_flush_seconds: float = 0.5,
        poll_seconds: float = 0.05,
        owner: str = "",
    ) -> None:
        self.caller = caller
        #: Jobs are written with this owner and only jobs of this owner are resumed: a job
        #: continues only with the account that started it.
        self.owner = owner
        #: This process, written into every job it runs (see UploadState.runner).
        self.runner = str(system.this_process())
        self.store = UploadStore(state_dir)
        self.on_event = on_event
        self.timeouts = timeouts or UploadTimeouts()
        self.policy_factory = policy_factory
        self.backoff_factory = backoff_factory
        self.growing_min_bytes = growing_min_bytes
        self.idle_flush_seconds = idle_flush_seconds
        self.poll_seconds = poll_seconds
        self._jobs: dict[str, UploadJob] = {}
        self._jobs_lock = threading.Lock()

    def begin(
        self,
        path: Path,
        metadata: EntryMetadata,
        *,
        growing: bool = False,
        fed: bool = False,
        category_id: int | None = None,
        replace_entry_id: str | None = None,
        resume_existing: bool = True,
        start: bool = True,
    ) -> UploadJob:
        """Start uploading ``path`` (still being written when ``growing``).

        ``fed`` (with ``growing``): the caller reports final bytes with
        :meth:`UploadJob.feed` instead of the job polling the file. With
        ``resume_existing``, an unfinished job for the same file (same path, and its first
        bytes unchanged) is resumed instead of creating a second entry.
        """
        path = Path(path).resolve()
        if resume_existing:
            for st in self._own_states():
                if (
                    st.status == "active"
                    and Path(st.path) == path
                    and same_start(st.path, st.identity)
                ):
                    job = self._adopt(st, start=start)
                    if not growing:
                        job.finish()
                    return job
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UploadError(
                f"The video file {path} cannot be read.", hint="Choose the file again."
            ) from exc
        now = time.time()
        state = UploadState(
            job_id=uuid.uuid4().hex,
            path=str(path),
            metadata={k: v for k, v in asdict(metadata).items() if v},
            mode="replace" if replace_entry_id else "new",
            entry_id=replace_entry_id or "",
            file_complete=not growing,
            final_size=None if growing else size,
            category_id=category_id,
            created_at=now,
            owner=self.owner,
            runner=self.runner,
        )
        self.store.save(state)
        job = UploadJob(self, state, resuming=False, fed=growing and fed)
        self._track(job)
        if start:
            job.start_thread()
        return job

    def resume_pending(self, *, start: bool = True) -> list[UploadJob]:
        """Every unfinished job from an earlier run, resumed (call once at start-up).

        The process that wrote a growing file is gone, so each file is taken as complete
        at its current size.
        """
        jobs = []
        for st in self._own_states():
            if st.status != "active":
                continue
            with self._jobs_lock:
                if st.job_id in self._jobs:
                    continue
            if st.runner and st.runner != self.runner and system.owner_alive(st.runner):
                log.info("upload %s is being run by process %s; left to it", st.job_id, st.runner)
                continue
            job = self._adopt(st, start=False)
            job.finish()
            if start:
                job.start_thread()
            jobs.append(job)
        return jobs

    def _own_states(self) -> list[UploadState]:
        return [st for st in self.store.load_all() if st.owner in ("", self.owner)]

    def jobs(self) -> list[UploadJob]:
        with self._jobs_lock:
            return list(self._jobs.values())

    def close(self, timeout: float = 10.0) -> None:
        """Suspend every running job (each resumes at the next start) and wait for them."""
        jobs = self.jobs()
        for job in jobs:
            job.suspend()
        deadline = time.monotonic() + timeout
        for job in jobs:
            job.join(max(0.0, deadline - time.monotonic()))

    def _adopt(self, st: UploadState, *, start: bool) -> UploadJob:
        with self._jobs_lock:
            existing = self._jobs.get(st.job_id)
        if existing is not None:
            return existing
        if st.runner != self.runner:
            st.runner = self.runner  # this process runs it now
            self.store.save(st)
        job = UploadJob(self, st, resuming=True)
        self._track(job)
        if start:
            job.start_thread()
        return job

    def _track(self, job: UploadJob) -> None:
        with self._jobs_lock:
            self._jobs[job.job_id] = job

    def _forget(self, job: UploadJob) -> None:
        with self._jobs_lock:
            self._jobs.pop(job.job_id, None)
