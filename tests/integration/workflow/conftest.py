"""The workflow against the whole sandbox: a signed-in profile and a way to read its logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app import paths


@pytest.fixture
def plaintext_cache() -> Iterator[None]:
    """Sign-ins cached in a 0600 file (this machine may have no Secret Service)."""
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps({"schema_version": 2, "allow_plaintext_token_cache": True})
    )
    yield


def kaltura_calls(sandbox: Any, service: str, action: str) -> int:
    """How many ``service.action`` requests the sandbox's Kaltura server answered."""
    path = f"/api_v3/service/{service}/action/{action}$"
    return len(sandbox.kaltura_server.faults.request_log(path))
