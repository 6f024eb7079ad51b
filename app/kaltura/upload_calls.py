"""The Kaltura calls one upload makes, each through the job's :class:`~app.kaltura.retry.Retrier`.

``uploadToken.add/get/upload/delete``, ``media.add/list/addContent/updateContent/delete``
and ``categoryEntry.add`` (docs/protocols.md, "Kaltura: upload tokens" and "Kaltura:
entries and categories"). What is special about each is here, next to the call:

- ``media.add`` whose answer was lost may have created the entry: it is looked up by its
  reference id before a second one is made;
- ``media.addContent`` / ``media.updateContent`` retried after a lost answer may find the
  work done (``ENTRY_ALREADY_WITH_CONTENT`` / the token already used): that is success;
- deleting after a cancel is bounded (three attempts) and reports what could not be
  deleted instead of raising.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.kaltura.errors import KalturaAPIError, KalturaNetworkError, UploadError
from app.kaltura.policy import Backoff
from app.kaltura.retry import Retrier
from app.kaltura.session import Caller

# Upload token statuses (docs/protocols.md, "Kaltura: upload tokens").
TOKEN_PENDING, TOKEN_PARTIAL, TOKEN_FULL, TOKEN_CLOSED, TOKEN_TIMED_OUT, TOKEN_DELETED = range(6)


@dataclass(frozen=True)
class UploadTimeouts:
    connect: float = 10.0
    #: Read timeout of ordinary calls and non-final chunks.
    read: float = 60.0
    #: Read timeout of the final chunk: the server may wait 45 s for parked chunks.
    final_read: float = 75.0


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` from a Kaltura answer; a missing field is an UploadError, not a KeyError."""
    if isinstance(obj, dict) and name in obj:
        return obj[name]
    if default is not None:
        return default
    raise UploadError(
        f"Kaltura's answer has no {name!r}.",
        hint="Check the Kaltura service URL in the profile.",
        details=repr(obj)[:300],
    )


class UploadCalls:
    """Kaltura calls for one upload job, retried by ``retrier``."""

    def __init__(self, caller: Caller, retrier: Retrier, timeouts: UploadTimeouts) -> None:
        self.caller = caller
        self.retrier = retrier
        self.timeouts = timeouts

    def timeout(self, *, final: bool = False) -> tuple[float, float]:
        t = self.timeouts
        return (t.connect, t.final_read if final else t.read)

    def _call(self, service: str, action: str, params: Mapping[str, Any]) -> Any:
        return self.caller.call(service, action, params, timeout=self.timeout())

    # ------------------------------------------------------------------ tokens

    def add_token(self, file_name: str, size: int | None) -> str:
        params: dict[str, Any] = {"objectType": "KalturaUploadToken", "fileName": file_name}
        if size is not None:
            params["fileSize"] = size
        token = self.retrier.call(
            "uploadToken.add", lambda: self._call("uploadToken", "add", {"uploadToken": params})
        )
        return str(field(token, "id"))

    def get_token(self, token_id: str) -> dict[str, Any]:
        res = self.retrier.call(
            "uploadToken.get",
            lambda: self._call("uploadToken", "get", {"uploadTokenId": token_id}),
        )
        if not isinstance(res, dict):
            raise UploadError("Kaltura's upload token answer has an unexpected shape.")
        return res

    def upload_chunk(
        self,
        what: str,
        params: dict[str, Any],
        data: bytes,
        *,
        filename: str,
        final: bool,
        landed: Callable[[], dict[str, Any] | None],
        on_attempt: Callable[[], None],
        on_failure: Callable[[KalturaNetworkError], None],
    ) -> dict[str, Any]:
        """``uploadToken.upload`` of one chunk; after a lost answer ``landed`` decides."""

        def attempt() -> Any:
            on_attempt()
            return self.caller.upload(
                "uploadToken",
                "upload",
                params,
                data,
                filename=filename,
                timeout=self.timeout(final=final),
            )

        token = self.retrier.call(what, attempt, landed=landed, on_failure=on_failure)
        return token if isinstance(token, dict) else {}

    # ------------------------------------------------------------------ entries

    def add_entry(self, entry: dict[str, Any]) -> str:
        """``media.add``; a lost answer is looked up by the entry's reference id first."""
        ref = str(entry["referenceId"])
        res = self.retrier.call(
            "media.add",
            lambda: self._call("media", "add", {"entry": entry}),
            landed=lambda: self._by_reference(ref),
        )
        if isinstance(res, str):
            return res
        return str(field(res, "id"))

    def _by_reference(self, ref: str) -> str | None:
        try:
            res = self.caller.call(
                "media",
                "list",
                {"filter": {"objectType": "KalturaMediaEntryFilter", "referenceIdEqual": ref}},
                timeout=self.timeout(),
            )
        except (KalturaNetworkError, KalturaAPIError):
            return None
        objs = res.get("objects") if isinstance(res, dict) else None
        if isinstance(objs, list):
            for obj in objs:
                if isinstance(obj, dict) and obj.get("referenceId") == ref and obj.get("id"):
                    return str(obj["id"])
        return None

    def give_token(self, action: str, entry_id: str, token_id: str, done_already: str) -> None:
        """``media.addContent`` / ``media.updateContent`` with ``token_id``.

        ``done_already`` is the error a retry gets when the first call's answer was lost
        but the server had done it: that is success, not a failure.
        """
        resource = {"objectType": "KalturaUploadedFileTokenResource", "token": token_id}
        try:
            self.retrier.call(
                f"media.{action}",
                lambda: self._call("media", action, {"entryId": entry_id, "resource": resource}),
            )
        except KalturaAPIError as exc:
            if exc.code != done_already:
                raise

    def add_to_category(self, entry_id: str, category_id: int) -> str:
        """``categoryEntry.add``; returns a warning to show, or "" when it is in."""
        entry = {
            "objectType": "KalturaCategoryEntry",
            "categoryId": category_id,
            "entryId": entry_id,
        }
        try:
            self.retrier.call(
                "categoryEntry.add",
                lambda: self._call("categoryEntry", "add", {"categoryEntry": entry}),
            )
        except KalturaAPIError as exc:
            if exc.code != "CATEGORY_ENTRY_ALREADY_EXISTS":
                return f"The category could not be set: {exc.message}"
        return ""

    # ------------------------------------------------------------------ clean-up

    def delete(self, what: str, service: str, params: dict[str, Any], gone: str) -> str:
        """Delete something after a cancel: three attempts, never raises.

        Returns "" when it is gone (or was never there: ``gone`` is the code saying so),
        else what could not be deleted, for the user.
        """
        # The job's halt event is set by now (that is what a cancel is): this clean-up has
        # its own, bounded retrier that nothing interrupts.
        cleanup = Retrier(Backoff(base=0.2, cap=1.0), threading.Event(), max_attempts=3)
        try:
            cleanup.call(f"{service}.delete", lambda: self._call(service, "delete", params))
        except KalturaAPIError as exc:
            return "" if exc.code == gone else f"{what}: {exc.message}"
        except KalturaNetworkError as exc:
            return f"{what}: {exc.message}"
        return ""
