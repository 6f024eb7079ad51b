"""Helpers for the Kaltura client's integration tests (real sandbox on port 0)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.kaltura.client import KalturaClient
from app.kaltura.policy import Backoff, ChunkPolicy
from app.kaltura.session import AppTokenCredentials, KalturaSession
from app.kaltura.uploader import Uploader, UploadEvent, UploadTimeouts
from app.sandbox.testing import GrowingFile, fragment_ends, write_fmp4
from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.helpers import wait_until

__all__ = ["GrowingFile", "fragment_ends", "wait_until", "write_fmp4"]

USER = "ada.lovelace@example.com"
KB = 1024


def make_session(srv: KalturaServer, *, user: str = USER, **kw: Any) -> KalturaSession:
    client = KalturaClient(srv.url, partner_id=srv.partner_id, timeout=kw.pop("timeout", (5, 10)))
    creds = AppTokenCredentials(srv.app_token_id, srv.app_token, srv.app_token_hash_type)
    return KalturaSession(client, creds, user_id=user, **kw)


def small_policy(chunk: int = 64 * KB, parallel: int = 1) -> ChunkPolicy:
    return ChunkPolicy(min_chunk=chunk, initial_chunk=chunk, max_chunk=chunk, max_parallel=parallel)


class Events:
    def __init__(self) -> None:
        self.items: list[UploadEvent] = []
        self.lock = threading.Lock()

    def __call__(self, ev: UploadEvent) -> None:
        with self.lock:
            self.items.append(ev)

    def kinds(self) -> list[str]:
        with self.lock:
            return [e.kind for e in self.items]


def make_uploader(
    session: KalturaSession,
    state_dir: Path,
    *,
    chunk: int = 64 * KB,
    parallel: int = 1,
    events: Events | None = None,
    timeouts: UploadTimeouts | None = None,
) -> Uploader:
    return Uploader(
        session,
        state_dir=state_dir,
        on_event=events,
        timeouts=timeouts or UploadTimeouts(connect=2, read=10, final_read=10),
        policy_factory=lambda: small_policy(chunk, parallel),
        backoff_factory=lambda: Backoff(base=0.01, cap=0.05, floor=0.005),
        growing_min_bytes=1,
        idle_flush_seconds=0.05,
        poll_seconds=0.01,
    )


def server_content(srv: KalturaServer, entry_id: str) -> bytes:
    entry = srv.service.store.entries.get(entry_id)
    assert entry is not None
    path = srv.service.entries.content_path(entry)
    assert path is not None, f"entry {entry_id} has no content yet: {entry}"
    return path.read_bytes()


@pytest.fixture
def fmp4_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_fmp4(tmp_path_factory.mktemp("src") / "src.mp4").read_bytes()


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "uploads"
