"""Uploads against the real Kaltura sandbox: complete files, growing recordings, faults,
session expiry, file changes, cancel, trim (replace content), categories and views."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from app.kaltura import entries
from app.kaltura.errors import KalturaAPIError, UploadCancelled, UploadError
from app.kaltura.uploader import EntryMetadata, UploadTimeouts
from app.sandbox.httpd import FaultConfig
from tests.fixtures.sandbox_kaltura import KalturaServer, write_mp4
from tests.integration.kaltura.conftest import (
    KB,
    USER,
    Events,
    GrowingFile,
    make_session,
    make_uploader,
    server_content,
    wait_until,
    write_fmp4,
)


def test_complete_file_is_uploaded_byte_identical(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    session = make_session(kaltura_server)
    events = Events()
    up = make_uploader(session, state_dir, chunk=256 * KB, events=events)
    job = up.begin(src, EntryMetadata(name="Hello", description="d", tags="a,b", reference_id="r1"))
    result = job.wait(30)
    assert server_content(kaltura_server, result.entry_id) == src.read_bytes()
    info = entries.wait_for(session, result.entry_id, lambda e: e.ready, timeout=10)
    assert info.name == "Hello" and info.raw["userId"] == USER  # the person's own entry
    assert info.raw["referenceId"] == "r1" and info.raw["tags"] == "a,b"
    assert info.duration and info.duration > 1.5
    kinds = events.kinds()
    assert kinds[0] == "created" and kinds[-1] == "done" and "progress" in kinds
    progress = [e for e in events.items if e.kind == "progress"]
    assert progress[-1].confirmed == progress[-1].total == src.stat().st_size
    assert [e.confirmed for e in progress] == sorted(e.confirmed for e in progress)
    # Multi-chunk: first resume=false, then resume=true with offsets, then the final one.
    uploads = kaltura_server.faults.request_log("(?i)uploadtoken/action/upload")
    assert len(uploads) == -(-src.stat().st_size // (256 * KB))
    assert not list(state_dir.glob("*.json"))  # done: nothing left to resume


def test_growing_recording_has_its_entry_before_stop(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    source = write_fmp4(tmp_path / "src.mp4", seconds=3, gop=5).read_bytes()
    take = tmp_path / "take.mp4"
    writer = GrowingFile(source, take, interval=0.15, hold_last=True)
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir, chunk=128 * KB)
    writer.start()
    try:
        job = up.begin(take, EntryMetadata(name="Live"), growing=True)
        entry_id = job.wait_entry(10)
        assert entries.get_entry(session, entry_id).status == entries.IMPORT  # no bytes yet
        token = kaltura_server.service.store.upload_tokens.get(job.token_id)
        assert token is not None
        # Bytes go up while the "recording" continues (its last fragment is held back).
        wait_until(lambda: kaltura_server.service.uploads.size(job.token_id) > 0)
        writer.release()
        writer.join()
        assert writer.done.is_set()
    finally:
        writer.stop.set()
    job.finish(final_size=len(source))
    job.wait(30)
    assert server_content(kaltura_server, entry_id) == source
    entries.wait_for(session, entry_id, lambda e: e.ready, timeout=10)


def test_faults_on_every_request_still_give_identical_bytes(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    size = src.stat().st_size
    kaltura_server.faults.configure(
        FaultConfig(failure_rate=0.3, stall_seconds=1.0, seed=11, match="/api_v3/")
    )
    session = make_session(kaltura_server, timeout=(2, 0.5))
    up = make_uploader(
        session,
        state_dir,
        chunk=64 * KB,
        timeouts=UploadTimeouts(connect=2, read=0.5, final_read=3),
    )
    job = up.begin(src, EntryMetadata(name="Faulty"))
    result = job.wait(120)
    kaltura_server.faults.reset()
    assert server_content(kaltura_server, result.entry_id) == src.read_bytes()
    log = kaltura_server.faults.request_log("/api_v3/")
    assert {r.fault for r in log} >= {"500", "503", "reset", "stall", "lost_response"}
    sent = session.client.stats.payload_bytes_sent
    assert result.failed_chunk_bytes > 0
    assert sent <= size + result.failed_chunk_bytes
    assert result.bytes_sent == sent


def test_parallel_chunks_are_merged_by_the_server(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    kaltura_server.faults.configure(latency_ms=30)
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir, chunk=64 * KB, parallel=4)
    job = up.begin(src, EntryMetadata(name="Parallel"))
    job.policy.record_latency(0.5)  # as measured on a slow link: latency-bound
    result = job.wait(60)
    assert job.policy.parallel() > 1
    assert server_content(kaltura_server, result.entry_id) == src.read_bytes()
    # The server saw upload requests overlap in time.
    spans = [
        (r.time - r.duration, r.time)
        for r in kaltura_server.faults.request_log("(?i)uploadtoken/action/upload")
    ]
    overlap = max(sum(1 for s, e in spans if s < t < e) for _, t in spans)
    assert overlap >= 1


def test_sessions_expired_mid_upload_are_renewed(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    kaltura_server.faults.configure(upload_bytes_per_s=2_000_000)
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir, chunk=64 * KB)
    job = up.begin(src, EntryMetadata(name="Expiry"))
    wait_until(lambda: job.state.confirmed > 256 * KB)
    old_ks = session.ks()
    kaltura_server.service.expire_all_sessions()
    result = job.wait(60)
    assert session.renewals >= 1 and session.ks() != old_ks
    assert server_content(kaltura_server, result.entry_id) == src.read_bytes()


def test_admin_expire_action_over_http(kaltura_server: KalturaServer) -> None:
    session = make_session(kaltura_server)
    ks = session.ks()
    r = requests.post(
        f"{kaltura_server.url}/_sandbox/expire-sessions",
        json={},
        headers=kaltura_server.server.faults.admin_headers(),
        timeout=5,
    )
    assert r.status_code == 200
    entries_before = session.call("media", "list", {})  # renewed transparently
    assert isinstance(entries_before, dict)
    assert session.ks() != ks and session.renewals == 1


def test_file_shrinking_mid_upload_stops_it(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    source = write_fmp4(tmp_path / "src.mp4", seconds=2).read_bytes()
    take = tmp_path / "take.mp4"
    take.write_bytes(source[: len(source) // 2])
    kaltura_server.faults.configure(upload_bytes_per_s=1_000_000)
    session = make_session(kaltura_server)
    events = Events()
    up = make_uploader(session, state_dir, chunk=64 * KB, events=events)
    job = up.begin(take, EntryMetadata(name="Shrink"), growing=True)
    wait_until(lambda: job.state.confirmed > 128 * KB)
    with open(take, "r+b") as f:
        f.truncate(64 * KB)
    with pytest.raises(UploadError, match="changed during its upload"):
        job.wait(30)
    assert events.kinds()[-1] == "failed"
    token = kaltura_server.service.store.upload_tokens.get(job.token_id)
    assert token is not None and token["status"] != 2  # never finalized with garbage


def test_file_rewritten_in_place_mid_upload_stops_it(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    source = write_fmp4(tmp_path / "src.mp4", seconds=2).read_bytes()
    take = tmp_path / "take.mp4"
    take.write_bytes(source[: len(source) // 2])
    kaltura_server.faults.configure(upload_bytes_per_s=1_000_000)
    up = make_uploader(make_session(kaltura_server), state_dir, chunk=64 * KB)
    job = up.begin(take, EntryMetadata(name="Rewrite"), growing=True)
    wait_until(lambda: job.state.confirmed > 128 * KB)
    with open(take, "r+b") as f:  # same inode, same size, different bytes
        f.write(b"\0" * (len(source) // 2))
    with pytest.raises(UploadError, match="changed during its upload"):
        job.wait(30)


def test_file_replaced_mid_upload_stops_it(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    source = write_fmp4(tmp_path / "src.mp4", seconds=2).read_bytes()
    take = tmp_path / "take.mp4"
    take.write_bytes(source)
    kaltura_server.faults.configure(upload_bytes_per_s=1_000_000)
    up = make_uploader(make_session(kaltura_server), state_dir, chunk=64 * KB)
    job = up.begin(take, EntryMetadata(name="Replace"))
    wait_until(lambda: job.state.confirmed > 64 * KB)
    other = tmp_path / "other.mp4"
    other.write_bytes(source)
    other.replace(take)
    with pytest.raises(UploadError, match="another file replaced it"):
        job.wait(30)


def test_cancel_deletes_token_and_entry(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    kaltura_server.faults.configure(upload_bytes_per_s=1_000_000)
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir, chunk=64 * KB)
    job = up.begin(src, EntryMetadata(name="Cancel me"))
    wait_until(lambda: job.state.confirmed > 0)
    job.cancel()
    with pytest.raises(UploadCancelled):
        job.wait(30)
    kaltura_server.faults.reset()
    with pytest.raises(KalturaAPIError) as err:
        entries.get_entry(session, job.entry_id)
    assert err.value.code == "ENTRY_ID_NOT_FOUND"
    with pytest.raises(KalturaAPIError) as err:
        session.call("uploadToken", "get", {"uploadTokenId": job.token_id})
    assert err.value.code == "UPLOAD_TOKEN_NOT_FOUND"
    assert not list(state_dir.glob("*.json"))


def test_cancel_can_keep_the_entry(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    kaltura_server.faults.configure(upload_bytes_per_s=1_000_000)
    session = make_session(kaltura_server)
    job = make_uploader(session, state_dir).begin(src, EntryMetadata(name="Keep"))
    entry_id = job.wait_entry(10)
    job.cancel(keep_entry=True)
    with pytest.raises(UploadCancelled):
        job.wait(30)
    kaltura_server.faults.reset()
    assert entries.get_entry(session, entry_id).id == entry_id


def test_trim_replaces_content_and_keeps_the_link(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir, chunk=256 * KB)
    first = write_mp4(tmp_path / "long.mp4", seconds=3)
    entry_id = up.begin(first, EntryMetadata(name="Trim")).wait(30).entry_id
    entries.wait_for(session, entry_id, lambda e: e.ready, timeout=10)
    trimmed = write_mp4(tmp_path / "short.mp4", seconds=1)
    result = up.begin(trimmed, EntryMetadata(name="Trim"), replace_entry_id=entry_id).wait(30)
    assert result.entry_id == entry_id
    info = entries.wait_for(
        session, entry_id, lambda e: e.ready and (e.duration or 9) < 2, timeout=10
    )
    assert info.id == entry_id
    assert server_content(kaltura_server, entry_id) == trimmed.read_bytes()


def test_category_by_name_and_views(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    from app.kaltura.client import KalturaClient
    from app.kaltura.session import AdminSecretCredentials, KalturaSession

    admin = KalturaSession(
        KalturaClient(kaltura_server.url, partner_id=kaltura_server.partner_id),
        AdminSecretCredentials(kaltura_server.admin_secret),
        user_id="admin@example.com",
        sandbox=True,
        session_type=2,
    )
    cat = admin.call("category", "add", {"category": {"name": "Sales"}})
    session = make_session(kaltura_server)
    cat_id = entries.find_category(session, "Sales")
    assert cat_id == int(cat["id"])
    src = write_mp4(tmp_path / "v.mp4", seconds=1)
    up = make_uploader(session, state_dir, chunk=256 * KB)
    entry_id = up.begin(src, EntryMetadata(name="Cat"), category_id=cat_id).wait(30).entry_id
    listed = session.call("categoryEntry", "list", {"filter": {"entryIdEqual": entry_id}})
    assert [int(o["categoryId"]) for o in listed["objects"]] == [cat_id]
    entries.wait_for(session, entry_id, lambda e: e.ready, timeout=10)
    assert entries.views(session, [entry_id])[entry_id].views == 0
    page = requests.get(f"{kaltura_server.url}/landing/{entry_id}?r=tok1&name=Bo", timeout=5)
    assert page.status_code == 200
    requests.post(f"{kaltura_server.url}/landing/{entry_id}/play?r=tok1", timeout=5)
    counts = entries.views(session, [entry_id, entry_id])
    assert (counts[entry_id].views, counts[entry_id].plays) == (1, 1)
    with pytest.raises(Exception, match="no category"):
        entries.find_category(session, "Nope")


def test_resume_in_the_same_process_after_a_network_outage(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    """All requests fail for a while (laptop asleep, Wi-Fi gone); the job waits it out."""
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    session = make_session(kaltura_server, timeout=(2, 0.5))
    events = Events()
    up = make_uploader(session, state_dir, events=events)
    job = up.begin(src, EntryMetadata(name="Outage"))
    wait_until(lambda: job.state.confirmed > 0)
    kaltura_server.faults.configure(failure_rate=1.0, failure_modes=["reset", "503"])
    wait_until(lambda: events.kinds().count("retrying") >= 5)
    kaltura_server.faults.reset()
    result = job.wait(60)
    assert server_content(kaltura_server, result.entry_id) == src.read_bytes()
    retry = next(e for e in events.items if e.kind == "retrying")
    assert retry.retry_in is not None and retry.message


def test_wait_entry_reports_a_failure(kaltura_server: KalturaServer, tmp_path: Path) -> None:
    missing = tmp_path / "gone.mp4"
    missing.write_bytes(b"x" * 10)
    up = make_uploader(make_session(kaltura_server), tmp_path / "st")
    job = up.begin(missing, EntryMetadata(name="x"), start=False)
    missing.unlink()
    job.start_thread()
    with pytest.raises(UploadError, match="gone"):
        job.wait_entry(5)
    with pytest.raises(UploadError, match="gone"):
        job.wait(5)


def test_the_files_head_is_noted_before_the_first_chunk_is_sent(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    kaltura_server.faults.configure(
        failure_rate=1.0, failure_modes=["503"], match="(?i)uploadtoken/action/upload"
    )
    up = make_uploader(make_session(kaltura_server), state_dir)
    job = up.begin(src, EntryMetadata(name="Noted"))
    wait_until(lambda: kaltura_server.faults.request_log("(?i)uploadtoken/action/upload"))
    up.close()
    (saved,) = state_dir.glob("*.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["confirmed"] == 0 and job.state.status == "active"  # nothing landed
    head = data["identity"]["head_len"]
    assert head == 64 * KB
    assert data["identity"]["head_sha256"] == hashlib.sha256(src.read_bytes()[:head]).hexdigest()


@pytest.mark.parametrize(
    ("head_noted", "why"),
    [(True, "its beginning is different"), (False, "replaced it since the upload began")],
)
def test_a_resume_never_joins_the_servers_bytes_to_a_replaced_file(
    kaltura_server: KalturaServer, tmp_path: Path, state_dir: Path, head_noted: bool, why: str
) -> None:
    """The server has the first chunk, the process died before noting it, and the take
    was then rewritten (a new file in its place): resuming would send the new file's bytes
    after the old one's. The job stops with a clear error instead: found by the head noted
    before the first chunk went out, or, in a state without it, by the file's inode."""
    src = write_fmp4(tmp_path / "take.mp4", seconds=2, seed=1)
    kaltura_server.faults.configure(upload_bytes_per_s=src.stat().st_size // 4)
    session = make_session(kaltura_server)
    up = make_uploader(session, state_dir)
    job = up.begin(src, EntryMetadata(name="Replaced"))
    wait_until(lambda: job.state.confirmed > 0)
    up.close()
    assert job.state.status == "active"
    # The state as it was before the first chunk was confirmed, of a take still being
    # recorded (its final size unknown)...
    (saved,) = state_dir.glob("*.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    data.update(confirmed=0, file_complete=False, final_size=None)
    data["identity"].update(tail_start=0, tail_len=0, tail_sha256="")
    if not head_noted:
        data["identity"].update(head_len=0, head_sha256="")
    saved.write_text(json.dumps(data), encoding="utf-8")
    # ...and another file where the take was.
    write_fmp4(tmp_path / "other.mp4", seconds=2, seed=2).replace(src)
    kaltura_server.faults.reset()
    (resumed,) = make_uploader(session, state_dir).resume_pending()
    with pytest.raises(UploadError, match=why):
        resumed.wait(30)
    entry = kaltura_server.service.store.entries.get(job.entry_id)
    assert entry is not None and kaltura_server.service.entries.content_path(entry) is None
