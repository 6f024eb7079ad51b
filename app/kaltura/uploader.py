"""Resumable uploads to Kaltura that follow a growing recording, survive faults and restarts.

One :class:`UploadJob` uploads one local file into one upload token (api-contract A4):

1. **Create** (each step persisted before the next, so a restart never repeats one):
   ``uploadToken.add``, ``media.add`` (name, description, tags, referenceId) and
   ``media.addContent`` with the token, so the entry id and its share link exist while the
   take is still being recorded. (A replacement upload, after a trim, skips the entry and
   calls ``media.updateContent`` at the end instead, so links already sent keep working.)
2. **Stream**: the recorder only ever appends to its fragmented MP4, so every byte below
   the file's current size is final. Completed bytes go up in chunks: the first with
   ``resume=false`` (it must, A4), the rest ``resume=true`` with an explicit ``resumeAt``,
   so chunks may run in parallel and the server merges them. While the file grows, whatever
   is available is sent whenever the pipe is idle, so at stop only a small tail is left.
   The caller says when the file is complete with :meth:`UploadJob.finish`.
3. **Finish**: a last chunk (possibly empty) with ``finalChunk=true`` at ``resumeAt=size``;
   its read timeout covers the server's 45 s wait for parked chunks.

Faults: network errors, 5xx, 429 and timeouts are retried with capped exponential backoff
and jitter for as long as the job is not cancelled. After an ambiguous failure (the request
may have been stored, the answer lost) ``uploadToken.get`` says whether the chunk landed,
so confirmed bytes are never sent twice. The KS is renewed by the session.

Durability: the job's state (token id, entry id, the server-confirmed offset, the file's
identity) is a JSON file in ``state_dir``, rewritten atomically after every confirmed chunk.
:meth:`Uploader.resume_pending` at start-up picks up every unfinished job; each resumes from
``uploadToken.get``'s ``uploadedFileSize``, never from its own notes.

Safety: the file's identity is its device/inode while running, plus SHA-256 of the first
and of the last confirmed 64 KiB (checked on resume and before the final chunk) and a 4 KiB
probe below the send frontier (checked continuously). A file that shrinks, is replaced, or
changes below what was sent stops the job with :class:`UploadError`; nothing is uploaded
as garbage.

Progress and health are :class:`UploadEvent` values given to ``on_event`` (from the job's
thread); cancellation is :meth:`UploadJob.cancel`, which deletes the token and the entry
unless asked to keep the entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from app.kaltura.errors import (
    KalturaAPIError,
    KalturaNetworkError,
    UploadCancelled,
    UploadError,
)
from app.kaltura.policy import Backoff, ChunkPolicy
from app.kaltura.session import Caller

log = logging.getLogger(__name__)

STATE_VERSION = 1
HEAD_BYTES = 64 * 1024
TAIL_BYTES = 64 * 1024
PROBE_BYTES = 4 * 1024

# Upload token statuses (A4).
TOKEN_PENDING, TOKEN_PARTIAL, TOKEN_FULL, TOKEN_CLOSED, TOKEN_TIMED_OUT, TOKEN_DELETED = range(6)

JobStatus = Literal["active", "done", "failed", "cancelled"]
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
class UploadTimeouts:
    connect: float = 10.0
    #: Read timeout of ordinary calls and non-final chunks.
    read: float = 60.0
    #: Read timeout of the final chunk: the server may wait 45 s for parked chunks.
    final_read: float = 75.0


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


@dataclass
class FileIdentity:
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    head_len: int = 0
    head_sha256: str = ""
    tail_start: int = 0
    tail_len: int = 0
    tail_sha256: str = ""


@dataclass
class UploadState:
    """Everything needed to resume a job after a restart (JSON in ``state_dir``)."""

    job_id: str
    path: str
    metadata: dict[str, str]
    mode: Literal["new", "replace"] = "new"
    token_id: str = ""
    entry_id: str = ""
    content_attached: bool = False
    #: Bytes the server confirmed contiguous, as last seen (the server's word wins).
    confirmed: int = 0
    file_complete: bool = False
    final_size: int | None = None
    finalized: bool = False
    status: JobStatus = "active"
    category_id: int | None = None
    category_done: bool = False
    identity: FileIdentity = field(default_factory=FileIdentity)
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str = ""
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported upload state version {data.get('version')!r}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        ident = kwargs.get("identity") or {}
        id_known = {f.name for f in fields(FileIdentity)}
        kwargs["identity"] = FileIdentity(**{k: v for k, v in ident.items() if k in id_known})
        state = cls(**kwargs)
        if not state.job_id or not state.path:
            raise ValueError("upload state without job id or path")
        return state


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


class UploadStore:
    """The directory of upload state files; writes are atomic (temp file + replace)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)

    def path_for(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def save(self, state: UploadState, *, durable: bool = True) -> None:
        """Write ``state`` atomically. ``durable=False`` skips the fsync: for progress
        notes, which only save a round trip on resume (the server's offset wins anyway)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state.updated_at = time.time()
        data = json.dumps(state.to_json(), indent=1, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            Path(tmp).replace(self.path_for(state.job_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, job_id: str) -> None:
        self.path_for(job_id).unlink(missing_ok=True)

    def load_all(self) -> list[UploadState]:
        """Every readable state; unreadable files are moved aside, never deleted."""
        out: list[UploadState] = []
        if not self.dir.is_dir():
            return out
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append(UploadState.from_json(json.loads(p.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("unreadable upload state %s (%s); moved aside", p, exc)
                with contextlib.suppress(OSError):
                    p.replace(p.with_suffix(f".bad-{int(time.time())}"))
        return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


class _Stopped(Exception):
    """Internal: the job must stop now (cancel); carries nothing."""


class UploadJob:
    """One upload. Drive it with :meth:`run` (blocking) or via :meth:`Uploader.begin`."""

    def __init__(
        self,
        uploader: Uploader,
        state: UploadState,
        *,
        resuming: bool,
    ) -> None:
        self.uploader = uploader
        self.caller = uploader.caller
        self.state = state
        self.resuming = resuming
        self.policy = uploader.policy_factory()
        self.backoff = uploader.backoff_factory()
        self.timeouts = uploader.timeouts
        #: Set by cancel(); ``_halt`` also stops workers when the job fails.
        self._cancel = threading.Event()
        self._halt = threading.Event()
        self._keep_entry = False
        self._stale_mark: tuple[int, float] | None = None
        self._last_head_check = 0.0
        self._acked = 0
        self._complete = threading.Event()
        if state.file_complete:
            self._complete.set()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._file: Any = None
        self._file_lock = threading.Lock()
        self._ranges = _Ranges()
        self._probe: tuple[int, str] | None = None
        self._result: UploadResult | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.bytes_sent = 0
        self.failed_chunk_bytes = 0
        self.resumed_from = 0
        self._rate_window: list[tuple[float, int]] = []
        self._first_sent = state.confirmed > 0
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

    def wait_entry(self, timeout: float | None = None) -> str:
        """The entry id, once the entry exists and has the token attached."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if deadline is not None and time.monotonic() > deadline:
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
            self._close_file()
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
            self._open_file()
            self._create()  # each step is skipped when a previous run did it
            self._sync_with_server(first=True)
            if not st.finalized:
                self._pump()
            self._after_upload()
        except (_Stopped, UploadCancelled):
            if not self._cancel.is_set():
                raise
            self._cleanup_cancelled()
            raise UploadCancelled(
                "The upload was cancelled.",
                hint="The video was not kept in Kaltura."
                if not self._keep_entry
                else "The entry was kept in Kaltura.",
            ) from None
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

    # ------------------------------------------------------------------ retries

    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` until it does not raise a network error, or the job is cancelled."""
        while True:
            self._check_cancel()
            try:
                result = fn()
            except KalturaNetworkError as exc:
                self._check_cancel()
                delay = self.backoff.next_delay(exc.retry_after)
                log.info("%s failed (%s); retrying in %.2f s", what, exc.message, delay)
                self._emit("retrying", message=f"{what}: {exc.message}", retry_in=delay)
                if self._halt.wait(delay):
                    raise _Stopped() from None
                continue
            self.backoff.reset()
            return result

    def _check_cancel(self) -> None:
        if self._halt.is_set():
            raise _Stopped()

    def _timeout(self, final: bool = False) -> tuple[float, float]:
        t = self.timeouts
        return (t.connect, t.final_read if final else t.read)

    # ------------------------------------------------------------------ creation

    def _create(self) -> None:
        st = self.state
        if not st.token_id:
            params: dict[str, Any] = {
                "objectType": "KalturaUploadToken",
                "fileName": Path(st.path).name,
            }
            if st.file_complete and st.final_size is not None:
                params["fileSize"] = st.final_size
            t0 = time.monotonic()
            token = self._retrying(
                "uploadToken.add",
                lambda: self.caller.call(
                    "uploadToken", "add", {"uploadToken": params}, timeout=self._timeout()
                ),
            )
            self.policy.record_latency(time.monotonic() - t0)
            st.token_id = str(_field(token, "id"))
            self._persist()
        if st.mode == "replace":
            self._ready.set()
            return
        if not st.entry_id:
            st.entry_id = self._add_entry()
            self._persist()
        if not st.content_attached:
            self._attach()
            st.content_attached = True
            self._persist()
        self._ready.set()
        self._emit("created", message="The entry exists; its link works now.")
        if st.category_id is not None and not st.category_done:
            self._assign_category()

    def _add_entry(self) -> str:
        st = self.state
        md = st.metadata
        entry = {
            "objectType": "KalturaMediaEntry",
            "mediaType": 1,
            "name": md.get("name") or Path(st.path).stem,
            "description": md.get("description", ""),
            "tags": md.get("tags", ""),
            "referenceId": md.get("reference_id") or st.job_id,
        }
        ref = str(entry["referenceId"])
        while True:
            self._check_cancel()
            try:
                res = self.caller.call("media", "add", {"entry": entry}, timeout=self._timeout())
            except KalturaNetworkError as exc:
                # The entry may exist already (answer lost): find it by its reference id.
                found = self._find_by_reference(ref) if exc.maybe_processed else None
                if found:
                    return found
                delay = self.backoff.next_delay(exc.retry_after)
                self._emit("retrying", message=f"media.add: {exc.message}", retry_in=delay)
                if self._halt.wait(delay):
                    raise _Stopped() from None
                continue
            self.backoff.reset()
            return str(_field(res, "id"))

    def _find_by_reference(self, ref: str) -> str | None:
        try:
            res = self.caller.call(
                "media",
                "list",
                {"filter": {"objectType": "KalturaMediaEntryFilter", "referenceIdEqual": ref}},
                timeout=self._timeout(),
            )
        except (KalturaNetworkError, KalturaAPIError):
            return None
        objs = res.get("objects") if isinstance(res, dict) else None
        if isinstance(objs, list):
            for obj in objs:
                if isinstance(obj, dict) and obj.get("referenceId") == ref and obj.get("id"):
                    return str(obj["id"])
        return None

    def _resource(self) -> dict[str, Any]:
        return {"objectType": "KalturaUploadedFileTokenResource", "token": self.state.token_id}

    def _give_token_to_entry(self, action: str, done_already: str) -> None:
        """media.addContent / media.updateContent with this job's token, retried.

        ``done_already`` is the error a retry gets when the first call's answer was lost
        but the server had done it: that is success, not a failure.
        """
        st = self.state
        try:
            self._retrying(
                f"media.{action}",
                lambda: self.caller.call(
                    "media",
                    action,
                    {"entryId": st.entry_id, "resource": self._resource()},
                    timeout=self._timeout(),
                ),
            )
        except KalturaAPIError as exc:
            if exc.code != done_already:
                raise

    def _attach(self) -> None:
        self._give_token_to_entry("addContent", "ENTRY_ALREADY_WITH_CONTENT")

    def _assign_category(self) -> None:
        st = self.state
        try:
            self._retrying(
                "categoryEntry.add",
                lambda: self.caller.call(
                    "categoryEntry",
                    "add",
                    {
                        "categoryEntry": {
                            "objectType": "KalturaCategoryEntry",
                            "categoryId": st.category_id,
                            "entryId": st.entry_id,
                        }
                    },
                    timeout=self._timeout(),
                ),
            )
        except KalturaAPIError as exc:
            if exc.code != "CATEGORY_ENTRY_ALREADY_EXISTS":
                self._emit("warning", message=f"The category could not be set: {exc.message}")
        st.category_done = True
        self._persist()

    # ------------------------------------------------------------------ file access

    def _open_file(self) -> None:
        st = self.state
        try:
            f = open(st.path, "rb")  # noqa: SIM115 - kept open for the whole job
        except FileNotFoundError:
            raise UploadError(
                f"The video file {st.path} is gone, so its upload cannot continue.",
                hint="Record or choose the video again.",
            ) from None
        except OSError as exc:
            raise UploadError(
                f"The video file {st.path} cannot be read: {exc.strerror}.",
                hint="Check that the file is not locked by another program.",
            ) from exc
        self._file = f
        stt = os.fstat(f.fileno())
        ident = st.identity
        if not self.resuming:
            ident.dev, ident.ino = stt.st_dev, stt.st_ino
        ident.size, ident.mtime_ns = stt.st_size, stt.st_mtime_ns

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _read_at(self, offset: int, length: int) -> bytes:
        with self._file_lock:
            self._file.seek(offset)
            data: bytes = self._file.read(length)
        if len(data) != length:
            raise self._changed(f"it is shorter than {offset + length} bytes now")
        return data

    def _changed(self, why: str) -> UploadError:
        return UploadError(
            f"The video file {self.state.path} changed during its upload ({why}), so the "
            "upload was stopped.",
            hint="Nothing wrong was uploaded. Record again or upload the file again.",
        )

    def _current_size(self) -> int:
        """The file's size now; raises when it shrank or was replaced."""
        st = self.state
        try:
            path_stat = Path(st.path).stat()
        except FileNotFoundError:
            raise self._changed("it was deleted or renamed") from None
        fd_stat = os.fstat(self._file.fileno())
        if (path_stat.st_dev, path_stat.st_ino) != (fd_stat.st_dev, fd_stat.st_ino):
            raise self._changed("another file replaced it")
        size = fd_stat.st_size
        if size < self._frontier_floor():
            raise self._changed(f"it shrank to {size} bytes")
        if st.final_size is not None and st.file_complete and size != st.final_size:
            raise self._changed(f"it is {size} bytes, not the {st.final_size} recorded")
        now = time.monotonic()
        if ident_due := (now - self._last_head_check >= 0.25):
            self._last_head_check = now
        ident = st.identity
        if ident_due and ident.head_len:
            with self._file_lock:
                self._file.seek(0)
                head = self._file.read(ident.head_len)
            if _sha256(head) != ident.head_sha256:
                raise self._changed("its beginning is different now")
        if self._probe is not None:
            end, digest = self._probe
            with self._file_lock:
                self._file.seek(end - PROBE_BYTES if end >= PROBE_BYTES else 0)
                got = self._file.read(min(PROBE_BYTES, end))
            if _sha256(got) != digest:
                raise self._changed("bytes that were already sent are different now")
        return int(size)

    def _frontier_floor(self) -> int:
        return max(self.state.confirmed, self._probe[0] if self._probe else 0)

    def _set_probe(self, end: int, data_end: bytes) -> None:
        if self._probe is None or end > self._probe[0]:
            self._probe = (end, _sha256(data_end[-PROBE_BYTES:]))

    def _update_identity(self) -> None:
        """Hash the first and the last confirmed 64 KiB (checked on resume)."""
        st = self.state
        ident = st.identity
        confirmed = st.confirmed
        head_len = min(HEAD_BYTES, confirmed)
        if head_len > ident.head_len:
            ident.head_len = head_len
            ident.head_sha256 = _sha256(self._read_at(0, head_len))
        tail_start = max(0, confirmed - TAIL_BYTES)
        ident.tail_start, ident.tail_len = tail_start, confirmed - tail_start
        ident.tail_sha256 = _sha256(self._read_at(tail_start, ident.tail_len))
        stt = os.fstat(self._file.fileno())
        ident.size, ident.mtime_ns = stt.st_size, stt.st_mtime_ns

    def _verify_identity(self) -> None:
        st = self.state
        ident = st.identity
        if ident.head_len and _sha256(self._read_at(0, ident.head_len)) != ident.head_sha256:
            raise self._changed("its beginning is different")
        if ident.tail_len and (
            _sha256(self._read_at(ident.tail_start, ident.tail_len)) != ident.tail_sha256
        ):
            raise self._changed("bytes that were already uploaded are different")

    # ------------------------------------------------------------------ streaming

    def _get_token(self) -> dict[str, Any]:
        st = self.state
        res = self._retrying(
            "uploadToken.get",
            lambda: self.caller.call(
                "uploadToken", "get", {"uploadTokenId": st.token_id}, timeout=self._timeout()
            ),
        )
        if not isinstance(res, dict):
            raise UploadError("Kaltura's upload token answer has an unexpected shape.")
        return res

    def _sync_with_server(self, *, first: bool = False) -> dict[str, Any]:
        """Adopt the server's confirmed offset (and check the file still matches)."""
        st = self.state
        t0 = time.monotonic()
        try:
            token = self._get_token()
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
            if st.confirmed and self.resuming:
                self._verify_identity()
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
            self._update_identity()
            self._probe = None
            probe_len = min(PROBE_BYTES, server)
            self._probe = (server, _sha256(self._read_at(server - probe_len, probe_len)))
        self._persist()
        return token

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
                if self._cancel.is_set():
                    raise _Stopped()
                size = self._current_size()
                complete = self._complete.is_set()
                if complete and st.final_size is None:
                    st.final_size = size
                end = st.final_size if complete and st.final_size is not None else size
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
                        avail >= self.uploader.growing_min_bytes or self._stale(next_offset)
                    ):
                        n = avail  # idle while recording: send what is there
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
                else:
                    self._wake.wait(self.uploader.poll_seconds)
                    self._wake.clear()
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
            self._update_identity()
            self._persist(durable=False)
        self._note_rate(self._acked)
        self._emit("progress")

    def _send_chunk(self, offset: int, length: int, first: bool) -> tuple[int, int]:
        """One chunk, retried until it is confirmed (or the job stops)."""
        st = self.state
        data = self._read_at(offset, length)
        self._set_probe(offset + length, data)
        params = {
            "uploadTokenId": st.token_id,
            "resume": not first,
            "finalChunk": False,
            "resumeAt": offset,
        }
        while True:
            self._check_cancel()
            t0 = time.monotonic()
            with self._lock:
                self.bytes_sent += length
            try:
                token = self.caller.upload(
                    "uploadToken",
                    "upload",
                    params,
                    data,
                    filename=Path(st.path).name,
                    timeout=self._timeout(),
                )
            except KalturaNetworkError as exc:
                with self._lock:
                    self.failed_chunk_bytes += length
                delay = self.backoff.next_delay(exc.retry_after)
                self._emit("retrying", message=f"chunk at {offset}: {exc.message}", retry_in=delay)
                if self._halt.wait(delay):
                    raise _Stopped() from None
                if exc.maybe_processed and self._landed(offset + length):
                    return offset, length
                continue
            except KalturaAPIError as exc:
                if exc.code == "UPLOAD_TOKEN_CANNOT_RESUME" and not first:
                    # The server lost our first chunk (replaced data): start over at 0.
                    raise UploadError(
                        "Kaltura lost the beginning of this upload.", hint="Upload again."
                    ) from exc
                raise
            self.backoff.reset()
            self.policy.record_chunk(length, time.monotonic() - t0)
            server = int(_field(token, "uploadedFileSize", 0) or 0)
            with self._lock:
                if server > st.confirmed:
                    self._ranges.add(0, server)
            return offset, length

    def _landed(self, end: int) -> bool:
        """After an ambiguous failure: does the server have everything below ``end``?"""
        try:
            token = self._get_token()
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
        data = self._read_at(offset, length) if length else b""
        self._verify_identity()
        self._emit("finalizing")
        params = {
            "uploadTokenId": st.token_id,
            "resume": self._first_sent,
            "finalChunk": True,
            "resumeAt": offset,
        }
        while True:
            self._check_cancel()
            with self._lock:
                self.bytes_sent += length
            try:
                token = self.caller.upload(
                    "uploadToken",
                    "upload",
                    params,
                    data,
                    filename=Path(st.path).name,
                    timeout=self._timeout(final=True),
                )
            except KalturaNetworkError as exc:
                with self._lock:
                    self.failed_chunk_bytes += length
                delay = self.backoff.next_delay(exc.retry_after)
                self._emit("retrying", message=f"final chunk: {exc.message}", retry_in=delay)
                if self._halt.wait(delay):
                    raise _Stopped() from None
                if self._final_landed(end):
                    break
                continue
            except KalturaAPIError as exc:
                if exc.code in (
                    "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD",
                    "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
                ) and self._final_landed(end):
                    break
                if exc.code == "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE":
                    # A parked chunk never arrived: resend what the server lacks.
                    raise _Resend() from exc
                raise
            server = int(_field(token, "uploadedFileSize", 0) or 0)
            status = int(_field(token, "status", 0) or 0)
            if server == end and status in (TOKEN_FULL, TOKEN_CLOSED):
                break
            if self._final_landed(end):
                break
            raise UploadError(
                f"Kaltura stored {server} of {end} bytes after the last chunk.",
                hint="Upload the video again.",
            )
        self.backoff.reset()
        st.confirmed = end
        st.finalized = True
        self._update_identity()
        self._persist()
        self._acked += length
        self._note_rate(self._acked)
        self._emit("progress")

    def _final_landed(self, end: int) -> bool:
        try:
            token = self._get_token()
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
            self._give_token_to_entry("updateContent", "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY")
        if st.category_id is not None and not st.category_done:
            self._assign_category()

    # ------------------------------------------------------------------ cancel

    def _cleanup_cancelled(self) -> None:
        st = self.state
        if st.status == "cancelled":
            return
        st.status = "cancelled"
        problems = []
        for what, service, params in (
            ("upload token", "uploadToken", {"uploadTokenId": st.token_id}),
            ("entry", "media", {"entryId": st.entry_id}),
        ):
            if not params.get("uploadTokenId", params.get("entryId")):
                continue
            if service == "media" and (self._keep_entry or st.mode == "replace"):
                continue
            if service == "uploadToken" and st.finalized:
                continue  # consumed by the entry
            for attempt in range(3):
                try:
                    self.caller.call(service, "delete", params, timeout=self._timeout())
                    break
                except KalturaAPIError as exc:
                    if exc.code not in ("UPLOAD_TOKEN_NOT_FOUND", "ENTRY_ID_NOT_FOUND"):
                        problems.append(f"{what}: {exc.message}")
                    break
                except KalturaNetworkError as exc:
                    if attempt == 2:
                        problems.append(f"{what}: {exc.message}")
                    else:
                        time.sleep(0.2 * (attempt + 1))
        self.uploader.store.remove(st.job_id)
        self._done.set()
        self._ready.set()
        msg = "Upload cancelled."
        if problems:
            msg += " Could not delete: " + "; ".join(problems)
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
        try:
            available = os.fstat(self._file.fileno()).st_size if self._file else st.confirmed
        except (OSError, ValueError):
            available = st.confirmed
        event = UploadEvent(
            kind=kind,
            job_id=st.job_id,
            entry_id=st.entry_id,
            confirmed=st.confirmed,
            available=available,
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


class _Resend(Exception):
    """Internal: the final chunk found bytes missing; resend from the server's offset."""


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict) and name in obj:
        return obj[name]
    if default is not None:
        return default
    raise UploadError(
        f"Kaltura's answer has no {name!r}.",
        hint="Check the Kaltura service URL in the profile.",
        details=repr(obj)[:300],
    )


class Uploader:
    """Starts, resumes and tracks upload jobs for one Kaltura session."""

    def __init__(
        self,
        caller: Caller,
        *,
        state_dir: Path,
        on_event: Callable[[UploadEvent], None] | None = None,
        timeouts: UploadTimeouts = UploadTimeouts(),
        policy_factory: Callable[[], ChunkPolicy] = ChunkPolicy,
        backoff_factory: Callable[[], Backoff] = Backoff,
        growing_min_bytes: int = 64 * 1024,
        idle_flush_seconds: float = 0.5,
        poll_seconds: float = 0.05,
    ) -> None:
        self.caller = caller
        self.store = UploadStore(state_dir)
        self.on_event = on_event
        self.timeouts = timeouts
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
        category_id: int | None = None,
        replace_entry_id: str | None = None,
        resume_existing: bool = True,
        start: bool = True,
    ) -> UploadJob:
        """Start uploading ``path`` (still being written when ``growing``).

        With ``resume_existing``, an unfinished job for the same file (same path, and its
        first bytes unchanged) is resumed instead of creating a second entry.
        """
        path = Path(path).resolve()
        if resume_existing:
            for st in self.store.load_all():
                if st.status == "active" and Path(st.path) == path and self._same_start(st):
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
        )
        self.store.save(state)
        job = UploadJob(self, state, resuming=False)
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
        for st in self.store.load_all():
            if st.status != "active":
                continue
            with self._jobs_lock:
                if st.job_id in self._jobs:
                    continue
            job = self._adopt(st, start=False)
            job.finish()
            if start:
                job.start_thread()
            jobs.append(job)
        return jobs

    def jobs(self) -> list[UploadJob]:
        with self._jobs_lock:
            return list(self._jobs.values())

    def _adopt(self, st: UploadState, *, start: bool) -> UploadJob:
        with self._jobs_lock:
            existing = self._jobs.get(st.job_id)
        if existing is not None:
            return existing
        job = UploadJob(self, st, resuming=True)
        self._track(job)
        if start:
            job.start_thread()
        return job

    def _same_start(self, st: UploadState) -> bool:
        ident = st.identity
        if not ident.head_len:
            return True
        try:
            with open(st.path, "rb") as f:
                return _sha256(f.read(ident.head_len)) == ident.head_sha256
        except OSError:
            return False

    def _track(self, job: UploadJob) -> None:
        with self._jobs_lock:
            self._jobs[job.job_id] = job

    def _forget(self, job: UploadJob) -> None:
        with self._jobs_lock:
            self._jobs.pop(job.job_id, None)
