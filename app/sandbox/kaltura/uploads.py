"""Upload tokens for the Kaltura sandbox: ``uploadToken.add/get/upload/delete/list`` with
the resume / resumeAt / finalChunk rules of kUploadTokenMgr (docs/protocols.md, "Kaltura:
upload tokens").

Bytes go to disk as they arrive: werkzeug's multipart parser streams the ``fileData``
part into a temp file next to the token's data (see :mod:`.service`), which is then
renamed into place (``resume=false``), copied in at its offset, or parked as
``chunk.<offset>`` until the bytes before it arrive. ``uploadedFileSize`` is always the
contiguous size of the data file. Each token has a lock (a thread lock, plus ``flock``
on ``.lock`` where the OS has it, so two processes on one data dir cannot interleave)
and a condition the final chunk waits on for parked chunks, for at most
``final_chunk_wait_seconds`` (the server's ``upload_final_chunk_max_append_time``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import portalocker

from app import system
from app.sandbox.kaltura.errors import api_error
from app.sandbox.kaltura.ks import KS
from app.sandbox.kaltura.sessions import Call
from app.sandbox.kaltura.store import Store, safe_id
from app.sandbox.kaltura.wire import field_int, field_str, int_list

PENDING, PARTIAL_UPLOAD, FULL_UPLOAD, CLOSED, TIMED_OUT, DELETED = range(6)
MAX_RESUME_SECONDS = 7 * 24 * 3600  # upload_token_max_resume_time
MAX_PARKED_CHUNKS = 200


def _copy_into(src: IO[bytes], dst: IO[bytes], offset: int, skip: int = 0) -> None:
    """Copy ``src`` (from ``skip``) into ``dst`` at ``offset``, kernel-side when possible."""
    src.flush()
    size = os.fstat(src.fileno()).st_size - skip
    if size <= 0:
        return
    dst.flush()
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < size:
                n = os.copy_file_range(
                    src.fileno(), dst.fileno(), size - copied, skip + copied, offset + copied
                )
                if n == 0:
                    break
                copied += n
        except OSError:
            copied = 0  # e.g. EXDEV/EINVAL on some filesystems: fall back to a plain copy
    if copied < size:
        src.seek(skip + copied)
        dst.seek(offset + copied)
        shutil.copyfileobj(src, dst, 4 << 20)
        dst.flush()


class Uploads:
    """The upload-token service for one sandbox."""

    def __init__(
        self,
        store: Store,
        partner_id: int,
        clock: Callable[[], float],
        *,
        final_chunk_wait_seconds: float,
        base_url: Callable[[], str],
        on_full: Callable[[str], None],
    ) -> None:
        self.store = store
        self.partner_id = partner_id
        self.clock = clock
        self.final_chunk_wait_seconds = final_chunk_wait_seconds
        self.base_url = base_url
        self.on_full = on_full
        self._locks_guard = threading.Lock()
        self._conds: dict[str, threading.Condition] = {}

    # ------------------------------------------------------------------ helpers

    def token_dir(self, token_id: str) -> Path:
        return self.store.uploads_dir / token_id

    def data_path(self, token_id: str) -> Path:
        return self.token_dir(token_id) / "data"

    def _cond(self, token_id: str) -> threading.Condition:
        with self._locks_guard:
            cond = self._conds.get(token_id)
            if cond is None:
                cond = self._conds[token_id] = threading.Condition(threading.Lock())
            return cond

    @contextlib.contextmanager
    def _file_lock(self, token_id: str) -> Iterator[None]:
        """Across processes sharing the data folder, on every OS (portalocker: flock on
        POSIX, LockFileEx on Windows)."""
        path = self.token_dir(token_id) / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            portalocker.lock(f, portalocker.LOCK_EX)
            try:
                yield
            finally:
                portalocker.unlock(f)

    def size(self, token_id: str) -> int:
        try:
            return self.data_path(token_id).stat().st_size
        except FileNotFoundError:
            return 0

    def to_object(self, token: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": token["id"],
            "partnerId": self.partner_id,
            "userId": token.get("userId") or None,
            "status": token["status"],
            "fileName": token.get("fileName"),
            "fileSize": token.get("fileSize"),
            "uploadedFileSize": token.get("uploadedFileSize"),
            "createdAt": token["createdAt"],
            "updatedAt": token["updatedAt"],
            "uploadUrl": self.base_url(),
            "autoFinalize": token.get("autoFinalize"),
            "attachedObjectType": token.get("attachedObjectType"),
            "attachedObjectId": token.get("attachedObjectId"),
            "objectType": "KalturaUploadToken",
        }

    def visible(self, token: dict[str, Any] | None, session: KS) -> bool:
        if token is None or token["status"] == DELETED:
            return False
        return session.is_admin or token.get("userId", "") == session.user

    def find(self, token_id: str | None, session: KS) -> dict[str, Any]:
        token = self.store.upload_tokens.get(token_id) if token_id and safe_id(token_id) else None
        if token is None or not self.visible(token, session):
            raise api_error("UPLOAD_TOKEN_NOT_FOUND")
        return token

    # ------------------------------------------------------------------ actions

    def add(self, call: Call) -> Any:
        session = call.require_ks()
        fields = call.params.obj("uploadToken") or {}
        file_size = field_int(fields, "fileSize")
        auto = field_int(fields, "autoFinalize")
        if auto == 1 and file_size is None:
            raise api_error("UPLOAD_TOKEN_MISSING_FILE_SIZE")
        now = int(self.clock())
        token: dict[str, Any] = {
            "id": "0_" + secrets.token_hex(16),
            "userId": session.user,
            "status": PENDING,
            "fileName": field_str(fields, "fileName"),
            "fileSize": file_size,
            "uploadedFileSize": None,
            "createdAt": now,
            "updatedAt": now,
            "autoFinalize": auto,
            "attachedObjectType": None,
            "attachedObjectId": None,
        }
        self.token_dir(token["id"]).mkdir(parents=True, exist_ok=True)
        self.store.upload_tokens.put(token["id"], token)
        return self.to_object(token)

    def get(self, call: Call) -> Any:
        session = call.require_ks()
        return self.to_object(self.find(call.params.text("uploadTokenId", required=True), session))

    def list_tokens(self, call: Call) -> Any:
        session = call.require_ks()
        flt = call.params.obj("filter") or {}
        pager = call.params.obj("pager") or {}
        status_in = field_str(flt, "statusIn")
        wanted = int_list(status_in) if (status_in) else None
        status_eq = field_int(flt, "statusEqual")
        ids = field_str(flt, "idIn")
        id_set = set(ids.split(",")) if ids else None
        tokens = [
            t
            for t in self.store.upload_tokens.values()
            if self.visible(t, session)
            and (wanted is None or t["status"] in wanted)
            and (status_eq is None or t["status"] == status_eq)
            and (id_set is None or t["id"] in id_set)
        ]
        tokens.sort(key=lambda t: (t["createdAt"], t["id"]), reverse=True)
        size = max(1, min(500, field_int(pager, "pageSize") or 30))
        index = max(1, field_int(pager, "pageIndex") or 1)
        page = tokens[(index - 1) * size : index * size]
        return {
            "objects": [self.to_object(t) for t in page],
            "totalCount": len(tokens),
            "objectType": "KalturaUploadTokenListResponse",
        }

    def delete(self, call: Call) -> Any:
        session = call.require_ks()
        token = self.find(call.params.text("uploadTokenId", required=True), session)
        cond = self._cond(token["id"])
        with cond, self._file_lock(token["id"]):
            self.store.upload_tokens.update(
                token["id"], status=DELETED, updatedAt=int(self.clock())
            )
            for path in self.token_dir(token["id"]).glob("*"):
                if path.name != ".lock":
                    path.unlink(missing_ok=True)
            cond.notify_all()
        return None

    def upload(self, call: Call) -> Any:
        session = call.require_ks()
        p = call.params
        token_id = p.text("uploadTokenId", required=True)
        body = p.file("fileData", required=True)
        assert body is not None
        resume = p.flag("resume", False)
        final = p.flag("finalChunk", True)
        resume_at = p.integer("resumeAt", -1)
        token = self.find(token_id, session)
        stream: IO[bytes] = body.stream  # a temp file on the same filesystem (service.py)
        stream.flush()
        length = os.fstat(stream.fileno()).st_size
        cond = self._cond(token_id)
        deadline = time.monotonic() + self.final_chunk_wait_seconds
        with cond:
            with self._file_lock(token_id):
                token = self.find(token_id, session)
                if token["status"] not in (PENDING, PARTIAL_UPLOAD):
                    raise api_error("UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD")
                if (
                    token["status"] == PARTIAL_UPLOAD
                    and self.clock() - token["createdAt"] > MAX_RESUME_SECONDS
                ):
                    raise api_error("UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED", MAX_RESUME_SECONDS)
                data = self.data_path(token_id)
                data.parent.mkdir(parents=True, exist_ok=True)
                if not resume:
                    for parked in data.parent.glob("chunk.*"):
                        parked.unlink(missing_ok=True)
                    self._take(stream, data)
                elif not data.exists():
                    raise api_error("UPLOAD_TOKEN_CANNOT_RESUME")
                elif resume_at < 0:
                    with open(data, "r+b") as f:
                        _copy_into(stream, f, data.stat().st_size)
                else:
                    self._place(token_id, stream, resume_at, length)
                self._merge(token_id)
                cond.notify_all()
            if resume and resume_at >= 0 and final:
                expected = resume_at + length
                while self.size(token_id) != expected:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    cond.wait(timeout=min(remaining, 0.25))
                    with self._file_lock(token_id):
                        self._merge(token_id)
                if self.size(token_id) != expected:
                    self._save_progress(token_id, PARTIAL_UPLOAD)
                    raise api_error("UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE")
            size = self.size(token_id)
            full = final or (
                token.get("autoFinalize") == 1
                and token.get("fileSize") is not None
                and size >= int(token["fileSize"])
            )
            token = self._save_progress(token_id, FULL_UPLOAD if full else PARTIAL_UPLOAD)
        if full and token.get("attachedObjectId"):
            self.on_full(token_id)
        return self.to_object(token)

    # ------------------------------------------------------------------ storage

    def _save_progress(self, token_id: str, status: int) -> dict[str, Any]:
        token = self.store.upload_tokens.update(
            token_id,
            status=status,
            uploadedFileSize=self.size(token_id),
            updatedAt=int(self.clock()),
        )
        assert token is not None
        return token

    @staticmethod
    def _take(stream: IO[bytes], dest: Path) -> None:
        """Move the request's temp file to ``dest`` (same filesystem), else copy it."""
        name = getattr(stream, "name", None)
        if isinstance(name, str) and Path(name).is_file():
            # Closed before the move: Windows refuses to rename a file that is open.
            stream.close()
            system.replace_file(Path(name), dest)
            return
        with open(dest, "wb") as f:
            _copy_into(stream, f, 0)

    def _place(self, token_id: str, stream: IO[bytes], resume_at: int, length: int) -> None:
        data = self.data_path(token_id)
        size = data.stat().st_size
        if length == 0 and resume_at > 0:
            return  # an empty non-final chunk: silently ignored (and a final one just checks)
        if resume_at + length <= size:
            return  # already covered: a re-sent chunk is harmless
        if resume_at <= size:
            with open(data, "r+b") as f:
                # Only the part past the current end changes anything.
                _copy_into(stream, f, size, skip=size - resume_at)
            return
        parked = list(data.parent.glob("chunk.*"))
        if len(parked) >= MAX_PARKED_CHUNKS:
            raise api_error("MAX_ALLOWED_CHUNK_COUNT_EXCEEDED")
        target = data.parent / f"chunk.{resume_at}"
        if target.exists() and target.stat().st_size >= length:
            return
        self._take(stream, target)

    def _merge(self, token_id: str) -> None:
        """Append parked chunks that have become contiguous."""
        data = self.data_path(token_id)
        if not data.exists():
            return
        while True:
            chunks = []
            for path in data.parent.glob("chunk.*"):
                try:
                    chunks.append((int(path.suffix[1:]), path))
                except ValueError:
                    path.unlink(missing_ok=True)
            chunks.sort()
            size = data.stat().st_size
            progressed = False
            for offset, path in chunks:
                if offset > size:
                    break
                length = path.stat().st_size
                if offset + length > size:
                    with open(path, "rb") as src, open(data, "r+b") as dst:
                        _copy_into(src, dst, size, skip=size - offset)
                    progressed = True
                path.unlink(missing_ok=True)
                size = data.stat().st_size
            if not progressed:
                return
