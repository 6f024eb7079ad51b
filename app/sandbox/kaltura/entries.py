"""Media entries for the Kaltura sandbox: ``media.add/addContent/get/list/update/
updateContent/delete``, ``category.add/list`` and ``categoryEntry.add/list``
(docs/protocols.md, "Kaltura: entries and categories").

An entry is NO_CONTENT (7) until content is attached; IMPORT (0) while the attached
upload token is not yet complete; then PRECONVERT (1) while a background "conversion"
(``conversion_seconds``) really probes the upload with PyAV; READY (2) when it has a
decodable video stream, ERROR_CONVERTING (-1) otherwise. A USER KS sees and changes only
its own entries unless its privileges say otherwise (``list:*`` / ``edit:*`` / ``edit:<id>``).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from app import system
from app.sandbox.kaltura import uploads as up
from app.sandbox.kaltura.errors import KS_INVALID_TYPE, api_error, invalid_ks
from app.sandbox.kaltura.ks import KS
from app.sandbox.kaltura.sessions import Call
from app.sandbox.kaltura.store import Store, safe_id
from app.sandbox.kaltura.wire import NULL, field_int, field_str, int_list

log = logging.getLogger(__name__)

ERROR_CONVERTING, IMPORT, PRECONVERT, READY, DELETED, NO_CONTENT = -1, 0, 1, 2, 3, 7
MEDIA_TYPE_VIDEO = 1
THUMB_VERSION = 100000
_ID_CHARS = string.ascii_lowercase + string.digits
_UPDATABLE = ("name", "description", "tags", "referenceId")


def probe(path: Path) -> tuple[bool, float, int, int]:
    """(is decodable video, duration s, width, height) of a file, decoding one frame."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return False, 0.0, 0, 0
            stream = container.streams.video[0]
            duration = 0.0
            if container.duration:
                duration = container.duration / 1_000_000
            elif stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            decoded = next(iter(container.decode(stream)), None)
            if decoded is None:
                return False, duration, 0, 0
            if duration <= 0:
                # A fragmented MP4 cut short (no mfra) may not say: walk the packets.
                container.seek(0)
                end = 0
                for packet in container.demux(stream):
                    if packet.pts is not None:
                        end = max(end, packet.pts + (packet.duration or 0))
                duration = float(end * stream.time_base) if stream.time_base else 0.0
            return True, duration, decoded.width, decoded.height
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return False, 0.0, 0, 0


class Entries:
    """The media/category services and the conversion worker."""

    def __init__(
        self,
        store: Store,
        uploads: up.Uploads,
        partner_id: int,
        clock: Callable[[], float],
        *,
        conversion_seconds: float,
        base_url: Callable[[], str],
    ) -> None:
        self.store = store
        self.uploads = uploads
        self.partner_id = partner_id
        self.clock = clock
        self.conversion_seconds = conversion_seconds
        self.base_url = base_url
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def resume_pending(self) -> None:
        """After a restart: finish conversions and imports that were under way."""
        for entry in self.store.entries.values():
            if entry["status"] == PRECONVERT:
                self._start_conversion(entry["id"])
            elif entry["status"] == IMPORT and entry.get("uploadTokenId"):
                token = self.store.upload_tokens.get(entry["uploadTokenId"])
                if token and token["status"] == up.FULL_UPLOAD:
                    self.token_full(token["id"])

    def close(self) -> None:
        self._stopping.set()
        for t in list(self._threads):
            t.join(timeout=5)

    # ------------------------------------------------------------------ objects

    def content_path(self, entry: dict[str, Any]) -> Path | None:
        name = entry.get("contentFile")
        if not name:
            return None
        path = self.store.content_dir / entry["id"] / name
        return path if path.is_file() else None

    def to_object(self, entry: dict[str, Any]) -> dict[str, Any]:
        pid = self.partner_id
        base = f"{self.base_url()}/p/{pid}/sp/{pid}00"
        proto = "https" if self.base_url().startswith("https") else "http"
        eid = entry["id"]
        manifest = f"{base}/playManifest/entryId/{eid}"
        duration = entry.get("durationSec")
        return {
            "id": eid,
            "name": entry.get("name"),
            "description": entry.get("description"),
            "tags": entry.get("tags"),
            "referenceId": entry.get("referenceId"),
            "partnerId": pid,
            "userId": entry.get("userId"),
            "creatorId": entry.get("creatorId"),
            "status": entry["status"],
            "moderationStatus": 6,
            "type": 1,
            "mediaType": entry.get("mediaType", MEDIA_TYPE_VIDEO),
            "duration": None if duration is None else round(duration),
            "msDuration": None if duration is None else int(duration * 1000),
            "width": entry.get("width"),
            "height": entry.get("height"),
            "createdAt": entry["createdAt"],
            "updatedAt": entry["updatedAt"],
            "categoriesIds": ",".join(self._category_ids(eid)) or None,
            "thumbnailUrl": f"{base}/thumbnail/entry_id/{eid}/version/{THUMB_VERSION}",
            "dataUrl": f"{manifest}/format/url/protocol/{proto}",
            "downloadUrl": f"{manifest}/format/download/protocol/{proto}/flavorParamIds/0",
            "plays": entry.get("plays", 0),
            "views": entry.get("views", 0),
            "version": 0,
            "objectType": "KalturaMediaEntry",
        }

    def _category_ids(self, entry_id: str) -> list[str]:
        return sorted(
            str(ce["categoryId"])
            for ce in self.store.category_entries.values()
            if ce["entryId"] == entry_id
        )

    # ------------------------------------------------------------------ access

    def may_see(self, entry: dict[str, Any], session: KS) -> bool:
        return (
            session.is_admin
            or entry.get("userId") == session.user
            or session.has_privilege("list", entry["id"])
            or session.has_privilege("edit", entry["id"])
        )

    def may_edit(self, entry: dict[str, Any], session: KS) -> bool:
        return (
            session.is_admin
            or entry.get("userId") == session.user
            or session.has_privilege("edit", entry["id"])
        )

    def find(self, entry_id: str | None, session: KS | None) -> dict[str, Any]:
        entry = self.store.entries.get(entry_id) if entry_id and safe_id(entry_id) else None
        if (
            entry is None
            or entry["status"] == DELETED
            or (session is not None and not self.may_see(entry, session))
        ):
            raise api_error("ENTRY_ID_NOT_FOUND", entry_id or "")
        return entry

    def find_editable(self, call: Call) -> tuple[dict[str, Any], KS]:
        session = call.require_ks()
        entry = self.find(call.params.text("entryId", required=True), session)
        if not self.may_edit(entry, session):
            raise api_error("PERMISSION_DENIED_TO_UPDATE_ENTRY")
        return entry, session

    # ------------------------------------------------------------------ media

    def add(self, call: Call) -> Any:
        session = call.require_ks()
        fields = call.params.obj("entry", required=True) or {}
        user = field_str(fields, "userId")
        if user and user != session.user and not session.is_admin:
            # KalturaEntryService::validateKSUser
            raise invalid_ks("", KS_INVALID_TYPE)
        media_type = field_int(fields, "mediaType") or MEDIA_TYPE_VIDEO
        now = int(self.clock())
        entry_id = "0_" + "".join(secrets.choice(_ID_CHARS) for _ in range(8))
        entry = {
            "id": entry_id,
            "status": NO_CONTENT,
            "mediaType": media_type,
            "userId": user or session.user,
            "creatorId": session.user or user,
            "createdAt": now,
            "updatedAt": now,
            "plays": 0,
            "views": 0,
        }
        for name in _UPDATABLE:
            entry[name] = field_str(fields, name)
        self.store.entries.put(entry_id, entry)
        return self.to_object(entry)

    def get(self, call: Call) -> Any:
        session = call.require_ks()
        return self.to_object(self.find(call.params.text("entryId", required=True), session))

    def update(self, call: Call) -> Any:
        entry, session = self.find_editable(call)
        param = "baseEntry" if call.service == "baseentry" else "mediaEntry"
        fields = call.params.obj(param, required=True) or {}
        changes: dict[str, Any] = {}
        for name in _UPDATABLE:
            if name in fields:
                changes[name] = None if fields[name] is NULL else field_str(fields, name)
        if "userId" in fields:
            if not session.is_admin:
                raise api_error("PROPERTY_VALIDATION_ADMIN_PROPERTY", "userId")
            changes["userId"] = field_str(fields, "userId")
        changes["updatedAt"] = int(self.clock())
        updated = self.store.entries.update(entry["id"], **changes)
        assert updated is not None
        return self.to_object(updated)

    def delete(self, call: Call) -> Any:
        entry, _ = self.find_editable(call)
        self.store.entries.update(entry["id"], status=DELETED, updatedAt=int(self.clock()))
        shutil.rmtree(self.store.content_dir / entry["id"], ignore_errors=True)
        return None

    def list_entries(self, call: Call) -> Any:
        session = call.require_ks()
        flt = call.params.obj("filter") or {}
        pager = call.params.obj("pager") or {}
        id_eq = field_str(flt, "idEqual")
        id_in = field_str(flt, "idIn")
        ids = {i.strip() for i in id_in.split(",")} if id_in else None
        user_eq = field_str(flt, "userIdEqual")
        ref_eq = field_str(flt, "referenceIdEqual")
        name_like = (field_str(flt, "nameLike") or "").lower()
        status_eq = field_int(flt, "statusEqual")
        status_in = field_str(flt, "statusIn")
        statuses = int_list(status_in) if status_in else None
        cats_or = field_str(flt, "categoriesIdsMatchOr")
        cats = {c.strip() for c in cats_or.split(",") if c.strip()} if cats_or else None
        created_min = field_int(flt, "createdAtGreaterThanOrEqual")
        created_max = field_int(flt, "createdAtLessThanOrEqual")
        order = field_str(flt, "orderBy") or "-createdAt"
        out = []
        for entry in self.store.entries.values():
            if entry["status"] == DELETED and status_eq != DELETED:
                continue
            if not (session.is_admin or entry.get("userId") == session.user) and not (
                session.has_privilege("list", entry["id"])
            ):
                continue
            if id_eq and entry["id"] != id_eq:
                continue
            if ids is not None and entry["id"] not in ids:
                continue
            if user_eq and entry.get("userId") != user_eq:
                continue
            if ref_eq and entry.get("referenceId") != ref_eq:
                continue
            if name_like and name_like not in (entry.get("name") or "").lower():
                continue
            if status_eq is not None and entry["status"] != status_eq:
                continue
            if statuses is not None and entry["status"] not in statuses:
                continue
            if cats is not None and not cats & set(self._category_ids(entry["id"])):
                continue
            if created_min is not None and entry["createdAt"] < created_min:
                continue
            if created_max is not None and entry["createdAt"] > created_max:
                continue
            out.append(entry)
        key = order.lstrip("+-")
        if key not in ("createdAt", "updatedAt", "name", "plays", "views"):
            key = "createdAt"
        out.sort(
            key=lambda e: (e.get(key) or 0 if key != "name" else e.get("name") or "", e["id"]),
            reverse=order.startswith("-"),
        )
        size = max(1, min(500, field_int(pager, "pageSize") or 30))
        index = max(1, field_int(pager, "pageIndex") or 1)
        page = out[(index - 1) * size : index * size]
        return {
            "objects": [self.to_object(e) for e in page],
            "totalCount": len(out),
            "objectType": "KalturaMediaListResponse",
        }

    def add_content(self, call: Call) -> Any:
        entry, session = self.find_editable(call)
        if entry["status"] != NO_CONTENT:
            raise api_error("ENTRY_ALREADY_WITH_CONTENT")
        return self._attach(entry, session, call.params.obj("resource", required=True) or {})

    def update_content(self, call: Call) -> Any:
        entry, session = self.find_editable(call)
        return self._attach(entry, session, call.params.obj("resource", required=True) or {})

    def _attach(self, entry: dict[str, Any], session: KS, resource: dict[str, Any]) -> Any:
        kind = field_str(resource, "objectType") or ""
        if kind != "KalturaUploadedFileTokenResource":
            raise api_error("RESOURCE_TYPE_NOT_SUPPORTED", kind)
        token_id = field_str(resource, "token")
        if not token_id:
            raise api_error("MISSING_MANDATORY_PARAMETER", "resource:token")
        token = self.uploads.find(token_id, session)
        if token["status"] not in (up.PENDING, up.PARTIAL_UPLOAD, up.FULL_UPLOAD):
            raise api_error("UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY")
        self.store.upload_tokens.update(
            token_id, attachedObjectType="entry", attachedObjectId=entry["id"]
        )
        updated = self.store.entries.update(
            entry["id"], status=IMPORT, uploadTokenId=token_id, updatedAt=int(self.clock())
        )
        assert updated is not None
        if token["status"] == up.FULL_UPLOAD:
            self.token_full(token_id)
            updated = self.store.entries.get(entry["id"]) or updated
        return self.to_object(updated)

    # ------------------------------------------------------------------ conversion

    def token_full(self, token_id: str) -> None:
        """An attached token finished uploading: take its bytes and convert."""
        with self._lock:
            token = self.store.upload_tokens.get(token_id)
            if not token or token["status"] != up.FULL_UPLOAD:
                return
            entry = self.store.entries.get(token.get("attachedObjectId") or "")
            if entry is None or entry["status"] not in (IMPORT, READY, ERROR_CONVERTING):
                return
            if entry.get("uploadTokenId") != token_id:
                return
            dest_dir = self.store.content_dir / entry["id"]
            dest_dir.mkdir(parents=True, exist_ok=True)
            source = self.uploads.data_path(token_id)
            name = f"source-{secrets.token_hex(4)}.bin"
            if source.exists():
                system.replace_file(source, dest_dir / name)
            else:
                (dest_dir / name).write_bytes(b"")
            for old in dest_dir.iterdir():
                if old.name != name and old.name.startswith("source-"):
                    old.unlink(missing_ok=True)
            self.store.upload_tokens.update(token_id, status=up.CLOSED, updatedAt=int(self.clock()))
            self.store.entries.update(
                entry["id"], status=PRECONVERT, contentFile=name, updatedAt=int(self.clock())
            )
        self._start_conversion(entry["id"])

    def _start_conversion(self, entry_id: str) -> None:
        t = threading.Thread(
            target=self._convert, args=(entry_id,), name=f"kaltura-convert-{entry_id}", daemon=True
        )
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    def _convert(self, entry_id: str) -> None:
        if self._stopping.wait(self.conversion_seconds):
            return  # shutting down: the next start resumes PRECONVERT entries
        entry = self.store.entries.get(entry_id)
        if entry is None or entry["status"] != PRECONVERT:
            return
        path = self.content_path(entry)
        ok, duration, width, height = probe(path) if path else (False, 0.0, 0, 0)
        with self._lock:
            current = self.store.entries.get(entry_id)
            if current is None or current["status"] != PRECONVERT:
                return
            self.store.entries.update(
                entry_id,
                status=READY if ok else ERROR_CONVERTING,
                durationSec=duration if ok else None,
                width=width or None,
                height=height or None,
                updatedAt=int(self.clock()),
            )
        log.debug("entry %s converted: %s", entry_id, "READY" if ok else "ERROR_CONVERTING")

    # ------------------------------------------------------------------ counters

    def count(self, entry_id: str, kind: str, recipient: str) -> bool:
        """Count a view or play (landing page / player), attributed to a recipient token."""
        with self._lock:
            entry = self.store.entries.get(entry_id) if safe_id(entry_id) else None
            if entry is None or entry["status"] == DELETED:
                return False
            field = "plays" if kind == "play" else "views"
            self.store.entries.update(entry_id, **{field: int(entry.get(field, 0)) + 1})
            record = self.store.views.get(entry_id) or {"entryId": entry_id, "events": []}
            record["events"].append(
                {"kind": kind, "recipient": recipient[:200], "at": int(self.clock())}
            )
            self.store.views.put(entry_id, record)
            return True

    def views(self, entry_id: str) -> list[dict[str, Any]]:
        record = self.store.views.get(entry_id) if safe_id(entry_id) else None
        return list(record["events"]) if record else []

    # ------------------------------------------------------------------ categories

    def category_object(self, cat: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": cat["id"],
            "parentId": cat.get("parentId", 0),
            "name": cat["name"],
            "fullName": cat["fullName"],
            "partnerId": self.partner_id,
            "entriesCount": sum(
                1 for ce in self.store.category_entries.values() if ce["categoryId"] == cat["id"]
            ),
            "createdAt": cat["createdAt"],
            "updatedAt": cat["updatedAt"],
            "objectType": "KalturaCategory",
        }

    def category_add(self, call: Call) -> Any:
        session = call.require_ks()
        if not session.is_admin:
            raise api_error("SERVICE_FORBIDDEN", "category->add")
        fields = call.params.obj("category", required=True) or {}
        name = field_str(fields, "name")
        if not name:
            raise api_error("MISSING_MANDATORY_PARAMETER", "category:name")
        parent = field_int(fields, "parentId") or 0
        parent_cat = None
        if parent:
            parent_cat = self.store.categories.get(str(parent))
            if parent_cat is None:
                raise api_error("CATEGORY_NOT_FOUND", parent)
        full = f"{parent_cat['fullName']}>{name}" if parent_cat else name
        if any(c["fullName"] == full for c in self.store.categories.values()):
            raise api_error("DUPLICATE_CATEGORY", full)
        now = int(self.clock())
        with self._lock:
            new_id = 1 + max((int(c["id"]) for c in self.store.categories.values()), default=0)
            cat = {
                "id": new_id,
                "parentId": parent,
                "name": name,
                "fullName": full,
                "createdAt": now,
                "updatedAt": now,
            }
            self.store.categories.put(str(new_id), cat)
        return self.category_object(cat)

    def category_list(self, call: Call) -> Any:
        call.require_ks()
        flt = call.params.obj("filter") or {}
        full_eq = field_str(flt, "fullNameEqual")
        id_eq = field_int(flt, "idEqual")
        cats = [
            c
            for c in self.store.categories.values()
            if (full_eq is None or c["fullName"] == full_eq) and (id_eq is None or c["id"] == id_eq)
        ]
        cats.sort(key=lambda c: int(c["id"]))
        return {
            "objects": [self.category_object(c) for c in cats],
            "totalCount": len(cats),
            "objectType": "KalturaCategoryListResponse",
        }

    def category_entry_add(self, call: Call) -> Any:
        session = call.require_ks()
        fields = call.params.obj("categoryEntry", required=True) or {}
        cat_id = field_int(fields, "categoryId")
        entry_id = field_str(fields, "entryId")
        if cat_id is None:
            raise api_error("MISSING_MANDATORY_PARAMETER", "categoryEntry:categoryId")
        if not entry_id:
            raise api_error("MISSING_MANDATORY_PARAMETER", "categoryEntry:entryId")
        entry = self.find(entry_id, session)
        if not self.may_edit(entry, session):
            raise api_error("PERMISSION_DENIED_TO_UPDATE_ENTRY")
        if self.store.categories.get(str(cat_id)) is None:
            raise api_error("CATEGORY_NOT_FOUND", cat_id)
        key = f"{cat_id}_{entry_id}"
        if self.store.category_entries.get(key) is not None:
            raise api_error("CATEGORY_ENTRY_ALREADY_EXISTS")
        ce = {"categoryId": cat_id, "entryId": entry_id, "createdAt": int(self.clock())}
        self.store.category_entries.put(key, ce)
        return self._category_entry_object(ce)

    @staticmethod
    def _category_entry_object(ce: dict[str, Any]) -> dict[str, Any]:
        return {
            "categoryId": ce["categoryId"],
            "entryId": ce["entryId"],
            "createdAt": ce["createdAt"],
            "status": 2,
            "objectType": "KalturaCategoryEntry",
        }

    def category_entry_list(self, call: Call) -> Any:
        session = call.require_ks()
        flt = call.params.obj("filter") or {}
        entry_eq = field_str(flt, "entryIdEqual")
        cat_eq = field_int(flt, "categoryIdEqual")
        items = []
        for ce in self.store.category_entries.values():
            if entry_eq and ce["entryId"] != entry_eq:
                continue
            if cat_eq is not None and ce["categoryId"] != cat_eq:
                continue
            entry = self.store.entries.get(ce["entryId"])
            if entry is None or entry["status"] == DELETED or not self.may_see(entry, session):
                continue
            items.append(self._category_entry_object(ce))
        return {
            "objects": items,
            "totalCount": len(items),
            "objectType": "KalturaCategoryEntryListResponse",
        }
