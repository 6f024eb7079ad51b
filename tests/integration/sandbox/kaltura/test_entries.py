"""Entries (docs/protocols.md, "Kaltura: entries and categories"): status life cycle with a
real PyAV probe, ownership under a USER KS, list/update/delete, categories, plays/views."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.helpers import wait_until

ERROR_CONVERTING, IMPORT, PRECONVERT, READY, NO_CONTENT = -1, 0, 1, 2, 7
ENTRY_FIELDS = {
    "id", "name", "description", "tags", "referenceId", "status", "mediaType", "userId",
    "creatorId", "partnerId", "createdAt", "updatedAt", "thumbnailUrl", "dataUrl",
    "downloadUrl", "plays", "views", "objectType",
}  # fmt: skip


def _add(server: KalturaServer, ks: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = server.call(
        "media",
        "add",
        {"entry": {"objectType": "KalturaMediaEntry", "mediaType": 1, **fields}},
        ks=ks,
    )
    return entry


def _upload_full(server: KalturaServer, ks: str, data: bytes) -> str:
    token = server.call("uploadToken", "add", {"uploadToken": {"fileName": "v.mp4"}}, ks=ks)
    done = server.call(
        "uploadToken",
        "upload",
        {"uploadTokenId": token["id"], "resume": False, "finalChunk": True},
        ks=ks,
        file=data,
    )
    assert done["status"] == 2, done
    return str(token["id"])


def _attach(
    server: KalturaServer, ks: str, entry_id: str, token_id: str, action: str = "addContent"
) -> Any:
    return server.call(
        "media",
        action,
        {
            "entryId": entry_id,
            "resource": {"objectType": "KalturaUploadedFileTokenResource", "token": token_id},
        },
        ks=ks,
    )


def _wait_status(server: KalturaServer, ks: str, entry_id: str, want: set[int]) -> dict[str, Any]:
    """The entry once its status is one of ``want``; fails the test after 20 s."""
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        seen.append(server.call("media", "get", {"entryId": entry_id}, ks=ks))
        return seen[-1]["status"] in want

    wait_until(reached, timeout=20, poll=0.02)
    return seen[-1]


def test_entry_life_cycle_to_ready(kaltura_server: KalturaServer, sample_mp4: Path) -> None:
    ks = kaltura_server.user_ks("alice@example.com")
    entry = _add(kaltura_server, ks, name="Hello", description="d", tags="a,b", referenceId="ref-1")
    assert entry["status"] == NO_CONTENT
    assert ENTRY_FIELDS - {"duration"} <= set(entry)
    assert (entry["userId"], entry["creatorId"]) == ("alice@example.com", "alice@example.com")
    assert entry["thumbnailUrl"].endswith(
        f"/p/100/sp/10000/thumbnail/entry_id/{entry['id']}/version/100000"
    )
    assert (
        f"/p/100/sp/10000/playManifest/entryId/{entry['id']}/format/url/protocol/http"
        in entry["dataUrl"]
    )
    assert entry["downloadUrl"].endswith("/format/download/protocol/http/flavorParamIds/0")
    assert (entry["plays"], entry["views"]) == (0, 0)
    token = _upload_full(kaltura_server, ks, sample_mp4.read_bytes())
    attached = _attach(kaltura_server, ks, entry["id"], token)
    assert attached["status"] in (PRECONVERT, READY)
    ready = _wait_status(kaltura_server, ks, entry["id"], {READY, ERROR_CONVERTING})
    assert ready["status"] == READY
    assert ready["duration"] == 1
    again = _attach(kaltura_server, ks, entry["id"], token)
    assert again["code"] == "ENTRY_ALREADY_WITH_CONTENT"


def test_partial_token_keeps_the_entry_in_import_until_the_upload_finishes(
    kaltura_server: KalturaServer, sample_mp4: Path
) -> None:
    ks = kaltura_server.user_ks("u")
    data = sample_mp4.read_bytes()
    token = kaltura_server.call(
        "uploadToken", "add", {"uploadToken": {"fileName": "v.mp4"}}, ks=ks
    )["id"]
    half = len(data) // 2
    kaltura_server.call(
        "uploadToken",
        "upload",
        {"uploadTokenId": token, "resume": False, "finalChunk": False},
        ks=ks,
        file=data[:half],
    )
    entry = _add(kaltura_server, ks, name="growing")
    assert _attach(kaltura_server, ks, entry["id"], token)["status"] == IMPORT
    # Conversion takes 0.05 s here: four times that later, a half-uploaded video has still
    # not been converted (nothing to wait for: the check is that nothing happens).
    time.sleep(0.2)
    assert kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)["status"] == IMPORT
    kaltura_server.call(
        "uploadToken",
        "upload",
        {"uploadTokenId": token, "resume": True, "finalChunk": True, "resumeAt": half},
        ks=ks,
        file=data[half:],
    )
    assert (
        _wait_status(kaltura_server, ks, entry["id"], {READY, ERROR_CONVERTING})["status"] == READY
    )
    assert (
        kaltura_server.call("uploadToken", "get", {"uploadTokenId": token}, ks=ks)["status"] == 3
    )  # CLOSED


def test_non_video_upload_ends_in_error_converting(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    entry = _add(kaltura_server, ks, name="not a video")
    token = _upload_full(kaltura_server, ks, b"%PDF-1.4 this is not a video at all\n" * 100)
    _attach(kaltura_server, ks, entry["id"], token)
    assert (
        _wait_status(kaltura_server, ks, entry["id"], {READY, ERROR_CONVERTING})["status"]
        == ERROR_CONVERTING
    )


def test_update_content_replaces_an_errored_upload(
    kaltura_server: KalturaServer, sample_mp4: Path
) -> None:
    ks = kaltura_server.user_ks("u")
    entry = _add(kaltura_server, ks, name="retry")
    _attach(kaltura_server, ks, entry["id"], _upload_full(kaltura_server, ks, b"junk" * 10))
    assert (
        _wait_status(kaltura_server, ks, entry["id"], {READY, ERROR_CONVERTING})["status"]
        == ERROR_CONVERTING
    )
    _attach(
        kaltura_server,
        ks,
        entry["id"],
        _upload_full(kaltura_server, ks, sample_mp4.read_bytes()),
        "updateContent",
    )
    assert _wait_status(kaltura_server, ks, entry["id"], {READY})["status"] == READY


def test_user_ks_only_sees_and_changes_its_own_entries(kaltura_server: KalturaServer) -> None:
    alice, bob = kaltura_server.user_ks("alice"), kaltura_server.user_ks("bob")
    entry = _add(kaltura_server, alice, name="alice's")
    err = kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=bob)
    assert err == {
        "code": "ENTRY_ID_NOT_FOUND",
        "message": f'Entry id "{entry["id"]}" not found',
        "objectType": "KalturaAPIException",
        "args": {"ENTRY_ID": entry["id"]},
    }
    assert (
        kaltura_server.call(
            "media", "update", {"entryId": entry["id"], "mediaEntry": {"name": "x"}}, ks=bob
        )["code"]
        == "ENTRY_ID_NOT_FOUND"
    )
    assert (
        kaltura_server.call("media", "delete", {"entryId": entry["id"]}, ks=bob)["code"]
        == "ENTRY_ID_NOT_FOUND"
    )
    assert kaltura_server.call("media", "list", ks=bob)["totalCount"] == 0
    token = kaltura_server.call("uploadToken", "add", {}, ks=bob)["id"]
    assert _attach(kaltura_server, bob, entry["id"], token)["code"] == "ENTRY_ID_NOT_FOUND"
    # Adding an entry in someone else's name: INVALID_KS -4 (validateKSUser).
    err = _add(kaltura_server, bob, name="as alice", userId="alice")
    assert (err["code"], err["args"]["ERR_CODE"], err["args"]["ERR_DESC"]) == (
        "INVALID_KS",
        "-4",
        "INVALID_TYPE",
    )
    # An admin KS sees everything, and may set another owner.
    admin = kaltura_server.admin_ks()
    assert (
        kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=admin)["userId"] == "alice"
    )
    assert _add(kaltura_server, admin, name="for bob", userId="bob")["userId"] == "bob"
    # A USER KS with edit:* may change others' entries.
    editor = kaltura_server.user_ks("carol", privileges="edit:*")
    upd = kaltura_server.call(
        "media", "update", {"entryId": entry["id"], "mediaEntry": {"name": "by carol"}}, ks=editor
    )
    assert upd["name"] == "by carol"


def test_update_list_and_delete(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    a = _add(kaltura_server, ks, name="first", referenceId="r1")
    b = _add(kaltura_server, ks, name="second")
    upd = kaltura_server.call(
        "media",
        "update",
        {"entryId": a["id"], "mediaEntry": {"description": "new", "tags__null": ""}},
        ks=ks,
    )
    assert upd["description"] == "new"
    assert "tags" not in upd
    err = kaltura_server.call(
        "media", "update", {"entryId": a["id"], "mediaEntry": {"userId": "other"}}, ks=ks
    )
    assert err["code"] == "PROPERTY_VALIDATION_ADMIN_PROPERTY"
    listed = kaltura_server.call("media", "list", {"filter": {"referenceIdEqual": "r1"}}, ks=ks)
    assert [e["id"] for e in listed["objects"]] == [a["id"]]
    paged = kaltura_server.call("media", "list", {"pager": {"pageSize": 1, "pageIndex": 2}}, ks=ks)
    assert paged["totalCount"] == 2
    assert len(paged["objects"]) == 1
    assert kaltura_server.call("media", "delete", {"entryId": b["id"]}, ks=ks) is None
    assert (
        kaltura_server.call("media", "get", {"entryId": b["id"]}, ks=ks)["code"]
        == "ENTRY_ID_NOT_FOUND"
    )
    assert kaltura_server.call("media", "list", ks=ks)["totalCount"] == 1


def test_category_entry(kaltura_server: KalturaServer) -> None:
    admin = kaltura_server.admin_ks()
    cat = kaltura_server.call("category", "add", {"category": {"name": "Video messages"}}, ks=admin)
    assert cat["objectType"] == "KalturaCategory"
    dup = kaltura_server.call("category", "add", {"category": {"name": "Video messages"}}, ks=admin)
    assert dup["code"] == "DUPLICATE_CATEGORY"
    ks = kaltura_server.user_ks("u")
    listed = kaltura_server.call(
        "category", "list", {"filter": {"fullNameEqual": "Video messages"}}, ks=ks
    )
    assert [c["id"] for c in listed["objects"]] == [cat["id"]]
    entry = _add(kaltura_server, ks, name="e")
    ce = kaltura_server.call(
        "categoryEntry",
        "add",
        {"categoryEntry": {"categoryId": cat["id"], "entryId": entry["id"]}},
        ks=ks,
    )
    assert (ce["objectType"], ce["categoryId"], ce["entryId"]) == (
        "KalturaCategoryEntry",
        cat["id"],
        entry["id"],
    )
    again = kaltura_server.call(
        "categoryEntry",
        "add",
        {"categoryEntry": {"categoryId": cat["id"], "entryId": entry["id"]}},
        ks=ks,
    )
    assert again["code"] == "CATEGORY_ENTRY_ALREADY_EXISTS"
    missing = kaltura_server.call(
        "categoryEntry",
        "add",
        {"categoryEntry": {"categoryId": 999, "entryId": entry["id"]}},
        ks=ks,
    )
    assert missing["code"] == "CATEGORY_NOT_FOUND"
    assert kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)[
        "categoriesIds"
    ] == str(cat["id"])
    assert (
        kaltura_server.call("category", "add", {"category": {"name": "x"}}, ks=ks)["code"]
        == "SERVICE_FORBIDDEN"
    )


def test_list_by_category_and_base_entry_aliases(kaltura_server: KalturaServer) -> None:
    admin = kaltura_server.admin_ks()
    cat = kaltura_server.call("category", "add", {"category": {"name": "C"}}, ks=admin)
    inside = _add(kaltura_server, admin, name="in")
    _add(kaltura_server, admin, name="out")
    kaltura_server.call(
        "categoryEntry",
        "add",
        {"categoryEntry": {"categoryId": cat["id"], "entryId": inside["id"]}},
        ks=admin,
    )
    listed = kaltura_server.call(
        "media", "list", {"filter": {"categoriesIdsMatchOr": str(cat["id"])}}, ks=admin
    )
    assert [e["id"] for e in listed["objects"]] == [inside["id"]]
    renamed = kaltura_server.call(
        "baseEntry", "update", {"entryId": inside["id"], "baseEntry": {"name": "b"}}, ks=admin
    )
    assert renamed["name"] == "b"
    assert (
        kaltura_server.call("baseEntry", "get", {"entryId": inside["id"]}, ks=admin)["name"] == "b"
    )
