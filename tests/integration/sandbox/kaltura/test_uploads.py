"""Upload tokens (docs/protocols.md, "Kaltura: upload tokens"): resume / resumeAt /
finalChunk rules, statuses, isolation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.helpers import wait_until

PENDING, PARTIAL, FULL, CLOSED, DELETED = 0, 1, 2, 3, 5


def _token(server: KalturaServer, ks: str, **fields: Any) -> dict[str, Any]:
    token = server.call(
        "uploadToken", "add", {"uploadToken": {"fileName": "m.mp4", **fields}}, ks=ks
    )
    assert token["objectType"] == "KalturaUploadToken", token
    return token


def _upload(
    server: KalturaServer,
    ks: str,
    token_id: str,
    data: bytes,
    *,
    resume: bool,
    final: bool,
    at: int = -1,
) -> dict[str, Any]:
    params = {"uploadTokenId": token_id, "resume": resume, "finalChunk": final, "resumeAt": at}
    result: dict[str, Any] = server.call("uploadToken", "upload", params, ks=ks, file=data)
    return result


def _stored(server: KalturaServer, token_id: str) -> bytes:
    return server.service.uploads.data_path(token_id).read_bytes()


def test_new_token_is_pending_with_the_fields_kaltura_returns(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.user_ks("u@example.com")
    token = _token(kaltura_server, ks, fileSize=10)
    assert token["status"] == PENDING
    assert token["fileName"] == "m.mp4"
    assert token["fileSize"] == 10
    assert token["userId"] == "u@example.com"
    assert token["partnerId"] == kaltura_server.partner_id
    assert token["id"].startswith("0_")
    assert "uploadedFileSize" not in token  # null properties are removed


def test_resume_on_an_empty_token_is_refused(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    err = _upload(kaltura_server, ks, token["id"], b"abc", resume=True, final=False, at=0)
    assert err["code"] == "UPLOAD_TOKEN_CANNOT_RESUME"
    assert err["objectType"] == "KalturaAPIException"
    assert (
        kaltura_server.call("uploadToken", "get", {"uploadTokenId": token["id"]}, ks=ks)["status"]
        == PENDING
    )


def test_sequential_chunks_and_statuses(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    first = _upload(kaltura_server, ks, token["id"], b"0123", resume=False, final=False, at=0)
    assert (first["status"], first["uploadedFileSize"]) == (PARTIAL, 4)
    appended = _upload(kaltura_server, ks, token["id"], b"4567", resume=True, final=False, at=-1)
    assert (appended["status"], appended["uploadedFileSize"]) == (PARTIAL, 8)
    last = _upload(kaltura_server, ks, token["id"], b"89", resume=True, final=True, at=8)
    assert (last["status"], last["uploadedFileSize"]) == (FULL, 10)
    assert _stored(kaltura_server, token["id"]) == b"0123456789"
    again = _upload(kaltura_server, ks, token["id"], b"x", resume=True, final=True, at=10)
    assert again["code"] == "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD"


def test_resume_false_replaces_the_data(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"old-old-old", resume=False, final=False, at=0)
    _upload(kaltura_server, ks, token["id"], b"xxxx", resume=True, final=False, at=20)  # parked
    fresh = _upload(kaltura_server, ks, token["id"], b"new", resume=False, final=False, at=0)
    assert fresh["uploadedFileSize"] == 3
    assert _stored(kaltura_server, token["id"]) == b"new"
    assert not list(kaltura_server.service.uploads.token_dir(token["id"]).glob("chunk.*"))


def test_out_of_order_chunks_are_parked_and_merged_when_contiguous(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"AAAA", resume=False, final=False, at=0)
    parked = _upload(kaltura_server, ks, token["id"], b"CCCC", resume=True, final=False, at=8)
    assert parked["uploadedFileSize"] == 4  # contiguous bytes only
    parked2 = _upload(kaltura_server, ks, token["id"], b"DDDD", resume=True, final=False, at=12)
    assert parked2["uploadedFileSize"] == 4
    merged = _upload(kaltura_server, ks, token["id"], b"BBBB", resume=True, final=False, at=4)
    assert merged["uploadedFileSize"] == 16
    assert _stored(kaltura_server, token["id"]) == b"AAAABBBBCCCCDDDD"
    done = _upload(kaltura_server, ks, token["id"], b"", resume=True, final=True, at=16)
    assert (done["status"], done["uploadedFileSize"]) == (FULL, 16)


def test_resent_and_overlapping_chunks_are_harmless(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"AAAABBBB", resume=False, final=False, at=0)
    same = _upload(kaltura_server, ks, token["id"], b"BBBB", resume=True, final=False, at=4)
    assert same["uploadedFileSize"] == 8
    overlap = _upload(kaltura_server, ks, token["id"], b"BBCC", resume=True, final=False, at=6)
    assert overlap["uploadedFileSize"] == 10
    assert _stored(kaltura_server, token["id"]) == b"AAAABBBBCC"


def test_empty_non_final_chunk_is_ignored(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"AAAA", resume=False, final=False, at=0)
    empty = _upload(kaltura_server, ks, token["id"], b"", resume=True, final=False, at=100)
    assert (empty["status"], empty["uploadedFileSize"]) == (PARTIAL, 4)
    assert not list(kaltura_server.service.uploads.token_dir(token["id"]).glob("chunk.*"))


def test_final_chunk_size_mismatch_fails_after_the_bounded_wait(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"AAAA", resume=False, final=False, at=0)
    err = _upload(kaltura_server, ks, token["id"], b"CCCC", resume=True, final=True, at=8)
    # (That it waits for parked chunks first is shown by the test below.)
    assert err["code"] == "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE"
    assert err["message"] == "Failed to match expected file size"
    assert err["args"] == []
    state = kaltura_server.call("uploadToken", "get", {"uploadTokenId": token["id"]}, ks=ks)
    assert (state["status"], state["uploadedFileSize"]) == (PARTIAL, 4)
    # The missing chunk arrives, then the retried final chunk succeeds.
    _upload(kaltura_server, ks, token["id"], b"BBBB", resume=True, final=False, at=4)
    done = _upload(kaltura_server, ks, token["id"], b"CCCC", resume=True, final=True, at=8)
    assert (done["status"], done["uploadedFileSize"]) == (FULL, 12)
    assert _stored(kaltura_server, token["id"]) == b"AAAABBBBCCCC"


def test_final_chunk_waits_for_a_parked_gap_filled_concurrently(tmp_path: Any) -> None:
    from tests.fixtures.sandbox_kaltura import start_kaltura_server

    server = start_kaltura_server(tmp_path / "s", final_chunk_wait_seconds=10.0)
    try:
        ks = server.user_ks("u")
        token = _token(server, ks)
        _upload(server, ks, token["id"], b"AAAA", resume=False, final=False, at=0)
        results: dict[str, Any] = {}

        def final() -> None:
            results["final"] = _upload(
                server, ks, token["id"], b"CCCC", resume=True, final=True, at=8
            )

        t = threading.Thread(target=final)
        t.start()
        # The final chunk is parked at offset 8 and its request waits for bytes 4..8.
        folder = server.service.uploads.data_path(token["id"]).parent
        wait_until(lambda: list(folder.glob("chunk.*")), timeout=10)
        assert t.is_alive()
        _upload(server, ks, token["id"], b"BBBB", resume=True, final=False, at=4)
        t.join(timeout=10)
        assert not t.is_alive()
        assert results["final"]["status"] == FULL
        assert _stored(server, token["id"]) == b"AAAABBBBCCCC"
    finally:
        server.stop()


def test_concurrent_chunks_all_land(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    chunks = [bytes([65 + i]) * 1000 for i in range(8)]
    _upload(kaltura_server, ks, token["id"], chunks[0], resume=False, final=False, at=0)
    threads = [
        threading.Thread(
            target=_upload,
            args=(kaltura_server, ks, token["id"], chunks[i]),
            kwargs={"resume": True, "final": False, "at": i * 1000},
        )
        for i in range(7, 0, -1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = _upload(kaltura_server, ks, token["id"], b"", resume=True, final=True, at=8000)
    assert done["status"] == FULL
    assert _stored(kaltura_server, token["id"]) == b"".join(chunks)


def test_auto_finalize_needs_a_file_size_and_finishes_at_it(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    err = kaltura_server.call("uploadToken", "add", {"uploadToken": {"autoFinalize": 1}}, ks=ks)
    assert err["code"] == "UPLOAD_TOKEN_MISSING_FILE_SIZE"
    token = _token(kaltura_server, ks, autoFinalize=1, fileSize=6)
    _upload(kaltura_server, ks, token["id"], b"abc", resume=False, final=False, at=0)
    done = _upload(kaltura_server, ks, token["id"], b"def", resume=True, final=False, at=3)
    assert done["status"] == FULL


def test_delete_list_and_other_users_tokens(kaltura_server: KalturaServer) -> None:
    alice, bob = kaltura_server.user_ks("alice"), kaltura_server.user_ks("bob")
    a = _token(kaltura_server, alice)
    b = _token(kaltura_server, bob)
    listed = kaltura_server.call("uploadToken", "list", ks=alice)
    assert [t["id"] for t in listed["objects"]] == [a["id"]]
    assert listed["objectType"] == "KalturaUploadTokenListResponse"
    assert kaltura_server.call("uploadToken", "get", {"uploadTokenId": b["id"]}, ks=alice)[
        "code"
    ] == ("UPLOAD_TOKEN_NOT_FOUND")
    stolen = _upload(kaltura_server, alice, b["id"], b"x", resume=False, final=True, at=0)
    assert stolen["code"] == "UPLOAD_TOKEN_NOT_FOUND"
    admin = kaltura_server.call("uploadToken", "list", ks=kaltura_server.admin_ks())
    assert {t["id"] for t in admin["objects"]} == {a["id"], b["id"]}
    assert (
        kaltura_server.call("uploadToken", "delete", {"uploadTokenId": a["id"]}, ks=alice) is None
    )
    gone = kaltura_server.call("uploadToken", "get", {"uploadTokenId": a["id"]}, ks=alice)
    assert gone["code"] == "UPLOAD_TOKEN_NOT_FOUND"


@pytest.mark.parametrize("token_id", ["../../etc/passwd", "0_abc/../../x", "", "0_ü", "a" * 500])
def test_odd_token_ids_are_not_found_and_touch_no_files(
    kaltura_server: KalturaServer, token_id: str
) -> None:
    ks = kaltura_server.user_ks("u")
    before = sorted(p.name for p in kaltura_server.data_dir.rglob("*"))
    err = _upload(kaltura_server, ks, token_id, b"x", resume=False, final=True, at=0)
    assert err["code"] in ("UPLOAD_TOKEN_NOT_FOUND", "MISSING_MANDATORY_PARAMETER")
    after = sorted(
        p.name for p in kaltura_server.data_dir.rglob("*") if not p.name.startswith("part-")
    )
    assert [n for n in after if n not in before] == []


def test_odd_file_names_are_kept_as_metadata_only(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    name = "../../evil\u202e/\\x:*?.mp4"
    token = _token(kaltura_server, ks, fileName=name)
    assert token["fileName"] == name
    data = b"payload"
    resp = kaltura_server.post(
        "uploadToken",
        "upload",
        files={
            "uploadTokenId": (None, token["id"]),
            "format": (None, "1"),
            "ks": (None, ks),
            "fileData": ("../../../../tmp/evil.mp4", data, "video/mp4"),
        },
    )
    assert resp.json()["status"] == FULL
    assert _stored(kaltura_server, token["id"]) == data
    assert not (kaltura_server.data_dir.parent / "evil.mp4").exists()


def test_missing_file_data_is_a_missing_parameter(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    err = kaltura_server.call("uploadToken", "upload", {"uploadTokenId": token["id"]}, ks=ks)
    assert err["code"] == "MISSING_MANDATORY_PARAMETER"
    assert err["args"] == {"PARAM_NAME": "fileData"}


def test_a_partial_token_past_the_resume_time_refuses_uploads(tmp_path: Any) -> None:
    from tests.fixtures.sandbox_kaltura import FakeClock, start_kaltura_server

    clock = FakeClock()
    server = start_kaltura_server(tmp_path / "s", clock=clock)
    try:
        ks = server.call(
            "session",
            "start",
            {"secret": server.admin_secret, "type": 0, "partnerId": 100, "expiry": 30 * 86400},
        )
        token = _token(server, ks)
        _upload(server, ks, token["id"], b"abc", resume=False, final=False, at=0)
        clock.advance(7 * 86400 + 1)
        err = _upload(server, ks, token["id"], b"def", resume=True, final=True, at=3)
        assert (err["code"], err["args"]) == (
            "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED",
            {"MAX_RESUME_TIME": "604800"},
        )
        assert _stored(server, token["id"]) == b"abc"
    finally:
        server.stop()


def test_list_filters_by_status(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    pending = _token(kaltura_server, ks)
    partial = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, partial["id"], b"a", resume=False, final=False, at=0)
    only = kaltura_server.call("uploadToken", "list", {"filter": {"statusEqual": PARTIAL}}, ks=ks)
    assert [t["id"] for t in only["objects"]] == [partial["id"]]
    both = kaltura_server.call("uploadToken", "list", {"filter": {"statusIn": "0,1"}}, ks=ks)
    assert {t["id"] for t in both["objects"]} == {pending["id"], partial["id"]}


@pytest.mark.parametrize("mode", ["lost_response", "reset", "503"])
def test_a_retried_chunk_after_a_fault_is_harmless(
    kaltura_server: KalturaServer, mode: str
) -> None:
    import requests

    from app.sandbox.httpd import FaultConfig

    ks = kaltura_server.user_ks("u")
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], b"A" * 1000, resume=False, final=False, at=0)
    kaltura_server.faults.configure(
        FaultConfig(failure_rate=1.0, failure_modes=[mode], match="(?i)uploadtoken/action/upload")
    )
    with pytest.raises((requests.ConnectionError, AssertionError)):
        _upload(kaltura_server, ks, token["id"], b"B" * 1000, resume=True, final=False, at=1000)
    kaltura_server.faults.reset()
    retried = _upload(
        kaltura_server, ks, token["id"], b"B" * 1000, resume=True, final=False, at=1000
    )
    assert retried["uploadedFileSize"] == 2000
    done = _upload(kaltura_server, ks, token["id"], b"", resume=True, final=True, at=2000)
    assert done["status"] == FULL
    assert _stored(kaltura_server, token["id"]) == b"A" * 1000 + b"B" * 1000


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=8),
    order=st.randoms(use_true_random=False),
    duplicates=st.integers(min_value=0, max_value=3),
)
def test_any_order_of_chunks_reassembles_the_file(
    kaltura_server: KalturaServer, sizes: list[int], order: Any, duplicates: int
) -> None:
    ks = kaltura_server.user_ks("u")
    blob = bytes(i % 251 for i in range(sum(sizes)))
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    chunks = [(off, blob[off : off + n]) for off, n in zip(offsets, sizes, strict=True)]
    rest = chunks[1:] + [order.choice(chunks) for _ in range(duplicates)]
    order.shuffle(rest)
    token = _token(kaltura_server, ks)
    _upload(kaltura_server, ks, token["id"], chunks[0][1], resume=False, final=False, at=0)
    for off, data in rest:
        _upload(kaltura_server, ks, token["id"], data, resume=True, final=False, at=off)
    done = _upload(kaltura_server, ks, token["id"], b"", resume=True, final=True, at=len(blob))
    assert (done["status"], done["uploadedFileSize"]) == (FULL, len(blob))
    assert _stored(kaltura_server, token["id"]) == blob
