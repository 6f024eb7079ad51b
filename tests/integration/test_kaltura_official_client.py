"""Acceptance: Kaltura's official Python client (PyPI ``KalturaApiClient``, XML only) runs
the whole upload flow against the sandbox unchanged (docs/protocols.md, "Kaltura: the official
Python client")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.exceptions import KalturaException
from KalturaClient.Plugins.Core import (
    KalturaEntryStatus,
    KalturaMediaEntry,
    KalturaMediaType,
    KalturaSessionType,
    KalturaUploadedFileTokenResource,
    KalturaUploadToken,
    KalturaUploadTokenStatus,
)

from tests.fixtures.sandbox_kaltura import KalturaServer


def _client(server: KalturaServer) -> KalturaClient:
    return KalturaClient(KalturaConfiguration(server.url))


def test_official_client_uploads_in_two_chunks_and_entry_becomes_ready(
    kaltura_server: KalturaServer, sample_mp4: Path, tmp_path: Path
) -> None:
    client = _client(kaltura_server)
    ks = client.session.start(
        kaltura_server.admin_secret,
        "alice@example.com",
        KalturaSessionType.USER,
        kaltura_server.partner_id,
        86400,
        "",
    )
    client.setKs(ks)
    data = sample_mp4.read_bytes()
    half = len(data) // 2
    first, second = tmp_path / "part1.bin", tmp_path / "part2.bin"
    first.write_bytes(data[:half])
    second.write_bytes(data[half:])

    token = client.uploadToken.add(KalturaUploadToken(fileName="m.mp4", fileSize=len(data)))
    assert token.status.getValue() == KalturaUploadTokenStatus.PENDING
    with open(first, "rb") as f:
        token = client.uploadToken.upload(token.id, f, False, False, 0)
    assert token.status.getValue() == KalturaUploadTokenStatus.PARTIAL_UPLOAD
    assert int(token.uploadedFileSize) == half
    with open(second, "rb") as f:
        token = client.uploadToken.upload(token.id, f, True, True, half)
    assert token.status.getValue() == KalturaUploadTokenStatus.FULL_UPLOAD
    assert int(token.uploadedFileSize) == len(data)

    entry = client.media.add(KalturaMediaEntry(name="Hello", mediaType=KalturaMediaType.VIDEO))
    assert entry.status.getValue() == KalturaEntryStatus.NO_CONTENT
    assert entry.userId == "alice@example.com"
    resource = KalturaUploadedFileTokenResource()
    resource.token = token.id
    entry = client.media.addContent(entry.id, resource)

    deadline = time.monotonic() + 20
    while entry.status.getValue() != KalturaEntryStatus.READY and time.monotonic() < deadline:
        time.sleep(0.05)
        entry = client.media.get(entry.id)
    assert entry.status.getValue() == KalturaEntryStatus.READY
    assert entry.duration == 1
    assert client.uploadToken.get(token.id).status.getValue() == KalturaUploadTokenStatus.CLOSED

    # What the entry points at is real: a JPEG and the uploaded bytes.
    thumb = requests.get(entry.thumbnailUrl, timeout=10)
    assert thumb.headers["Content-Type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    video = requests.get(entry.dataUrl, timeout=10)
    assert video.content == data


def test_official_client_sees_api_errors_and_multirequest_items(
    kaltura_server: KalturaServer,
) -> None:
    client = _client(kaltura_server)
    with pytest.raises(KalturaException) as bad_secret:
        client.session.start("wrong", "", KalturaSessionType.ADMIN, kaltura_server.partner_id)
    assert bad_secret.value.code == "START_SESSION_ERROR"

    client.setKs(
        client.session.start(
            kaltura_server.admin_secret, "", KalturaSessionType.ADMIN, kaltura_server.partner_id
        )
    )
    client.startMultiRequest()
    client.media.add(KalturaMediaEntry(name="A", mediaType=KalturaMediaType.VIDEO))
    client.media.get("0_missing")
    added, missing = client.doMultiRequest()
    assert isinstance(added, KalturaMediaEntry)
    assert added.name == "A"
    assert isinstance(missing, KalturaException)
    assert missing.code == "ENTRY_ID_NOT_FOUND"
