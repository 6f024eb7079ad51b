"""The local side of an upload: the file, read at offsets, and proof that it did not change.

A recording only ever grows by whole fragments, so every byte below the file's size is
final. :class:`FileGuard` holds the file open for the whole job and refuses to hand out
bytes once that stops being true:

- while running, the path must still name the open file (same device and inode): a file
  replaced by another one stops the job;
- the file may not shrink below what was sent, nor differ at the end from the size the
  recorder reported;
- SHA-256 of the first 64 KiB (checked four times a second) and of a 4 KiB probe just below
  the send frontier (checked at every look) must not change;
- across restarts, SHA-256 of the first and of the last confirmed 64 KiB are kept in the
  job's state (:class:`~app.kaltura.upload_state.FileIdentity`) and checked on resume and
  before the final chunk.

Any violation is an :class:`UploadError` saying what changed; nothing is uploaded as garbage.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import IO

from app.errors import Action
from app.kaltura.errors import UploadError
from app.kaltura.upload_state import FileIdentity

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 64 * 1024
PROBE_BYTES = 4 * 1024
#: How often the head of the file is re-hashed while streaming.
HEAD_CHECK_SECONDS = 0.25


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileGuard:
    """One upload's open file and its identity checks. Thread-safe reads."""

    def __init__(self, path: str | Path, identity: FileIdentity, *, resuming: bool) -> None:
        self.path = str(path)
        #: The job's persisted identity, updated in place.
        self.identity = identity
        self.resuming = resuming
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._last_head_check = 0.0
        #: (end offset, length, SHA-256 of the ``length`` bytes below it; at most
        #: PROBE_BYTES) of the highest chunk sent.
        self._probe: tuple[int, int, str] | None = None

    # ------------------------------------------------------------------ open / close

    def open(self) -> None:
        try:
            # Unbuffered: every check reads the bytes on disk now, never a cached copy of
            # what they were when first read.
            f = open(self.path, "rb", buffering=0)  # noqa: SIM115 - open for the whole job
        except FileNotFoundError:
            raise UploadError(
                f"The video file {self.path} is gone, so its upload cannot continue.",
                hint="Record or choose the video again.",
                action=Action.CHOOSE_FILE,
            ) from None
        except OSError as exc:
            raise UploadError(
                f"The video file {self.path} cannot be read: {exc.strerror}.",
                hint="Check that the file is not locked by another program.",
                action=Action.CHOOSE_FILE,
            ) from exc
        self._file = f
        stt = os.fstat(f.fileno())
        ident = self.identity
        if not self.resuming:
            ident.dev, ident.ino = stt.st_dev, stt.st_ino
        ident.size, ident.mtime_ns = stt.st_size, stt.st_mtime_ns

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def size_on_disk(self) -> int | None:
        """The open file's size now, or None when it is not open (for progress only)."""
        f = self._file
        if f is None:
            return None
        try:
            return os.fstat(f.fileno()).st_size
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ reading

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:
            f = self._file
            assert f is not None, "read_at before open"
            f.seek(offset)
            parts: list[bytes] = []
            got = 0
            while got < length:  # an unbuffered read may return less than asked
                part = f.read(length - got)
                if not part:
                    break
                parts.append(part)
                got += len(part)
        data = b"".join(parts)
        if len(data) != length:
            raise self.changed(f"it is shorter than {offset + length} bytes now")
        return data

    def changed(self, why: str) -> UploadError:
        return UploadError(
            f"The video file {self.path} changed during its upload ({why}), so the "
            "upload was stopped.",
            hint="Nothing wrong was uploaded. Record again or upload the file again.",
            action=Action.CHOOSE_FILE,
        )

    # ------------------------------------------------------------------ checks

    def floor(self, confirmed: int) -> int:
        """The least the file may hold: what the server has and what was sent."""
        return max(confirmed, self._probe[0] if self._probe else 0)

    def size_now(self, *, confirmed: int, final_size: int | None) -> int:
        """The file's size now; raises when it shrank, was replaced or changed below what
        was sent. ``final_size`` (once the recorder stopped) must match exactly."""
        f = self._file
        assert f is not None, "size_now before open"
        try:
            path_stat = Path(self.path).stat()
        except FileNotFoundError:
            raise self.changed("it was deleted or renamed") from None
        fd_stat = os.fstat(f.fileno())
        if (path_stat.st_dev, path_stat.st_ino) != (fd_stat.st_dev, fd_stat.st_ino):
            raise self.changed("another file replaced it")
        size = int(fd_stat.st_size)
        if size < self.floor(confirmed):
            raise self.changed(f"it shrank to {size} bytes")
        if final_size is not None and size != final_size:
            raise self.changed(f"it is {size} bytes, not the {final_size} recorded")
        now = time.monotonic()
        ident = self.identity
        if ident.head_len and now - self._last_head_check >= HEAD_CHECK_SECONDS:
            self._last_head_check = now
            if sha256(self.read_at(0, ident.head_len)) != ident.head_sha256:
                raise self.changed("its beginning is different now")
        if self._probe is not None:
            end, length, digest = self._probe
            if sha256(self.read_at(end - length, length)) != digest:
                raise self.changed("bytes that were already sent are different now")
        return size

    def note_sent(self, end: int, data_end: bytes) -> None:
        """A chunk ending at ``end`` was read (``data_end`` is its tail): probe there.

        A chunk may be shorter than the probe (a growing file's last few bytes), so the
        probe remembers how many bytes it hashed."""
        tail = data_end[-PROBE_BYTES:]
        with self._lock:
            if tail and (self._probe is None or end > self._probe[0]):
                self._probe = (end, len(tail), sha256(tail))

    def probe_at(self, end: int) -> None:
        """Probe the bytes just below ``end`` (the server's offset after a resync)."""
        self._probe = None
        if end > 0:
            length = min(PROBE_BYTES, end)
            self._probe = (end, length, sha256(self.read_at(end - length, length)))

    def note_head(self, first_chunk: bytes) -> None:
        """Hash the file's first bytes from the first chunk, before it is sent: if the run
        dies before the server's confirmation is noted, a resume still knows them."""
        ident = self.identity
        head = first_chunk[:HEAD_BYTES]
        if len(head) > ident.head_len:
            ident.head_len, ident.head_sha256 = len(head), sha256(head)

    def remember(self, confirmed: int) -> None:
        """Hash the first and the last confirmed 64 KiB (checked on resume)."""
        ident = self.identity
        head_len = min(HEAD_BYTES, confirmed)
        if head_len > ident.head_len:
            ident.head_len = head_len
            ident.head_sha256 = sha256(self.read_at(0, head_len))
        tail_start = max(0, confirmed - TAIL_BYTES)
        ident.tail_start, ident.tail_len = tail_start, confirmed - tail_start
        ident.tail_sha256 = sha256(self.read_at(tail_start, ident.tail_len))
        f = self._file
        assert f is not None
        stt = os.fstat(f.fileno())
        ident.size, ident.mtime_ns = stt.st_size, stt.st_mtime_ns

    def same_file(self) -> None:
        """On resume: the open file is the one the job began with, not another one put in
        its place since (a rewritten take). Compared by inode (the file index on Windows)
        alone, where the file system has one: a device number may change across reboots.
        Only for states that noted no content to compare (see :meth:`note_head`): some file
        systems (FAT, some network and FUSE mounts) renumber inodes when mounted again."""
        f = self._file
        assert f is not None, "same_file before open"
        ino = os.fstat(f.fileno()).st_ino
        if self.identity.ino and ino and ino != self.identity.ino:
            raise self.changed("another file has replaced it since the upload began")

    def verify(self) -> None:
        """The remembered head and tail still hash the same (on resume, before finishing)."""
        ident = self.identity
        if ident.head_len and sha256(self.read_at(0, ident.head_len)) != ident.head_sha256:
            raise self.changed("its beginning is different")
        if ident.tail_len and (
            sha256(self.read_at(ident.tail_start, ident.tail_len)) != ident.tail_sha256
        ):
            raise self.changed("bytes that were already uploaded are different")


def same_start(path: str | Path, identity: FileIdentity) -> bool:
    """True when ``path`` still begins with the bytes ``identity`` remembers (or none yet)."""
    if not identity.head_len:
        return True
    try:
        with open(path, "rb") as f:
            return sha256(f.read(identity.head_len)) == identity.head_sha256
    except OSError:
        return False
