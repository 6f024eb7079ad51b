"""Kaltura entries: read an entry's state, wait for it, count its views, file it in a category.

Creating an entry and attaching its upload is the uploader's job (it must happen at the
start of a recording); this module is what the rest of the app asks afterwards: is the
video ready, how long is it, who watched it (``plays``/``views``), the category lookup
by name (``category.list`` with ``fullNameEqual``) used before ``categoryEntry.add``, and
the entry's new name once the person has typed a title (``media.update``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.kaltura.errors import KalturaAPIError, KalturaSettingsError, UploadError
from app.kaltura.session import Caller

# Entry statuses (docs/protocols.md, "Kaltura: entries and categories").
ERROR_IMPORTING, ERROR_CONVERTING = -2, -1
IMPORT, PRECONVERT, READY, DELETED, PENDING, MODERATE, BLOCKED, NO_CONTENT = range(8)
_ERRORS = (ERROR_IMPORTING, ERROR_CONVERTING, DELETED, BLOCKED)


@dataclass(frozen=True)
class EntryInfo:
    id: str
    name: str
    status: int
    duration: float | None
    plays: int
    views: int
    thumbnail_url: str
    data_url: str
    raw: dict[str, Any]

    @property
    def has_content(self) -> bool:
        """All its bytes arrived: it is processing or ready (not waiting for an upload)."""
        return self.status in (PRECONVERT, READY, PENDING, MODERATE)

    @property
    def ready(self) -> bool:
        return self.status == READY


@dataclass(frozen=True)
class EntryViews:
    entry_id: str
    plays: int
    views: int


def _status(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -99  # unknown string statuses (virusScan.*): neither ready nor an error


def entry_info(obj: Any) -> EntryInfo:
    if not isinstance(obj, dict) or not obj.get("id"):
        raise UploadError(
            "Kaltura's answer about an entry has an unexpected shape.",
            details=repr(obj)[:300],
        )
    dur = obj.get("msDuration")
    duration = float(dur) / 1000.0 if isinstance(dur, int | float) and dur else None
    if duration is None and isinstance(obj.get("duration"), int | float):
        duration = float(obj["duration"])
    return EntryInfo(
        id=str(obj["id"]),
        name=str(obj.get("name") or ""),
        status=_status(obj.get("status")),
        duration=duration,
        plays=int(obj.get("plays") or 0),
        views=int(obj.get("views") or 0),
        thumbnail_url=str(obj.get("thumbnailUrl") or ""),
        data_url=str(obj.get("dataUrl") or ""),
        raw=obj,
    )


def get_entry(caller: Caller, entry_id: str) -> EntryInfo:
    return entry_info(caller.call("media", "get", {"entryId": entry_id}))


def rename_entry(caller: Caller, entry_id: str, name: str) -> EntryInfo:
    """Give the entry the name ``name`` (``media.update``; only the fields sent change)."""
    return entry_info(
        caller.call(
            "media",
            "update",
            {"entryId": entry_id, "mediaEntry": {"objectType": "KalturaMediaEntry", "name": name}},
        )
    )


def wait_for(
    caller: Caller,
    entry_id: str,
    predicate: Callable[[EntryInfo], bool],
    *,
    timeout: float = 60.0,
    poll: float = 0.1,
    cancel: threading.Event | None = None,
) -> EntryInfo:
    """Poll ``media.get`` until ``predicate`` holds; an entry in error raises."""
    deadline = time.monotonic() + timeout
    cancel = cancel or threading.Event()
    while True:
        info = get_entry(caller, entry_id)
        if predicate(info):
            return info
        if info.status in _ERRORS:
            raise UploadError(
                f"Kaltura could not process the video (entry {entry_id}, status {info.status}).",
                hint="Upload the video again; if it fails again, the file may be damaged.",
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"entry {entry_id} is still in status {info.status}")
        if cancel.wait(poll):
            raise TimeoutError("cancelled")


def views(caller: Caller, entry_ids: Iterable[str]) -> dict[str, EntryViews]:
    """Plays and views of each entry (``media.list`` with ``idIn``, 100 at a time)."""
    ids = [e for e in dict.fromkeys(entry_ids) if e]
    out: dict[str, EntryViews] = {}
    for i in range(0, len(ids), 100):
        batch = ids[i : i + 100]
        res = caller.call(
            "media",
            "list",
            {
                "filter": {"objectType": "KalturaMediaEntryFilter", "idIn": ",".join(batch)},
                "pager": {"objectType": "KalturaFilterPager", "pageSize": 500},
            },
        )
        objs = res.get("objects") if isinstance(res, dict) else None
        for obj in objs if isinstance(objs, list) else []:
            if isinstance(obj, dict) and obj.get("id") in batch:
                info = entry_info(obj)
                out[info.id] = EntryViews(info.id, info.plays, info.views)
    return out


def find_category(caller: Caller, name: str) -> int:
    """The id of the category named ``name`` (its full name ``A>B``, or a unique name)."""
    wanted = name.strip()
    res = caller.call(
        "category",
        "list",
        {"filter": {"objectType": "KalturaCategoryFilter", "fullNameEqual": wanted}},
    )
    objs = res.get("objects") if isinstance(res, dict) else None
    cats = [o for o in objs if isinstance(o, dict)] if isinstance(objs, list) else []
    if not cats and ">" not in wanted:
        res = caller.call("category", "list", {"pager": {"pageSize": 500}})
        objs = res.get("objects") if isinstance(res, dict) else None
        cats = [
            o
            for o in (objs if isinstance(objs, list) else [])
            if isinstance(o, dict) and o.get("name") == wanted
        ]
    if len(cats) != 1:
        what = "no category" if not cats else f"{len(cats)} categories"
        raise KalturaSettingsError(
            "category",
            f'Kaltura has {what} named "{wanted}".',
            hint="Set the category's full name (like Parent>Child) in the profile, or "
            "leave it empty.",
        )
    return int(cats[0]["id"])


def add_to_category(caller: Caller, entry_id: str, category_id: int) -> None:
    try:
        caller.call(
            "categoryEntry",
            "add",
            {
                "categoryEntry": {
                    "objectType": "KalturaCategoryEntry",
                    "categoryId": category_id,
                    "entryId": entry_id,
                }
            },
        )
    except KalturaAPIError as exc:
        if exc.code != "CATEGORY_ENTRY_ALREADY_EXISTS":
            raise


def delete_entry(caller: Caller, entry_id: str) -> None:
    try:
        caller.call("media", "delete", {"entryId": entry_id})
    except KalturaAPIError as exc:
        if exc.code != "ENTRY_ID_NOT_FOUND":
            raise
