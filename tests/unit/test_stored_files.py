"""Every file the app stores can be damaged without harm.

Settings, policy, upload state, take state files, the outbox database and the sandbox's
data are each fed arbitrary bytes and arbitrary JSON (Hypothesis), deep nesting and a newer
schema. Each loader detects the damage, keeps the damaged version once (with its
permissions), says what was reset, and the rest keeps working: it never raises anything
but its own error with a message for the user.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import policy as policy_mod
from app import settings as settings_mod
from app.errors import AppError, RecordingError
from app.kaltura.upload_state import UploadState, UploadStore
from app.mail.outbox import Outbox
from app.recorder import recovery, sidecar
from app.sandbox.kaltura.store import Store
from tests.helpers import assert_mode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
#: What a damaged file may hold: bytes, JSON of any shape, deep nesting, a newer version.
contents = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1_000, 50_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b'{"schema_version": 99, "recording": {"countdown_seconds": 5}}',
            b'{"version": 99, "job_id": "j", "path": "/x"}',
            b'{"version": 1, "job_id": "j", "path": "/x", "confirmed": "lots"}',
            b'{"version": 1, "job_id": "j", "path": "/x", "identity": [1, 2]}',
            b'{"video": "v.mp4", "state": "recording", "pid": "not a pid"}',
            b"",
        ]
    ),
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _fresh(folder: Path) -> Path:
    for p in folder.iterdir():
        p.unlink()
    return folder


@FUZZ
@given(data=contents)
def test_settings(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("settings")
    path = folder / "settings.json"
    path.write_bytes(data)
    path.chmod(0o640)
    first = settings_mod.load(path)
    again = settings_mod.load(path)  # the next start finds the same damage
    assert isinstance(first.settings, settings_mod.Settings)
    assert first.settings.profile().kind == "sandbox"  # the app keeps working
    if first.problems:
        assert first.summary()  # the user is told what was reset
        assert first.backup is not None and first.backup == again.backup
        kept = list(folder.glob("settings.json.damaged-*"))
        assert kept == [first.backup]  # one backup per damaged version, not per run
        assert first.backup.read_bytes() == data
        assert_mode(first.backup, 0o640)  # the original's mode


@FUZZ
@given(data=contents)
def test_policy(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    path.write_bytes(data)
    pol = policy_mod.load(path)  # never raises
    if pol.error:
        assert str(path) in pol.error
        with pytest.raises(AppError):
            pol.require_valid()  # sending is refused with the reason, not a crash


@FUZZ
@given(data=contents)
def test_upload_state(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("uploads")
    store = UploadStore(folder)
    good = UploadState(job_id="good", path=str(folder / "v.mp4"), metadata={"name": "v"})
    store.save(good)
    (folder / "damaged.json").write_bytes(data)
    loaded = store.load_all()
    assert good.job_id in [s.job_id for s in loaded]  # the others still load
    assert all(isinstance(s, UploadState) for s in loaded)
    if not any(s.job_id == "j" for s in loaded):  # it was damage: moved aside, once
        assert not (folder / "damaged.json").exists()
        assert len(list(folder.glob("damaged.json.damaged-*"))) == 1
        assert store.load_all() == loaded  # the next start does not trip on it again


@FUZZ
@given(data=contents)
def test_take_state(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("takes")
    video = folder / "take.mp4"
    video.write_bytes(b"\x00" * 64)
    sidecar.sidecar_path(video).write_bytes(data)
    try:
        state = sidecar.read_state(video)
    except RecordingError as exc:
        assert str(sidecar.sidecar_path(video)) in exc.message
    else:
        assert isinstance(state, sidecar.TakeState)
    assert isinstance(recovery.find_recoverable(folder), list)  # never a crash


@FUZZ
@given(data=contents)
def test_outbox(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("outbox")
    path = folder / "outbox.sqlite3"
    path.write_bytes(data)
    with Outbox(path) as box:
        assert box.jobs() == [] or box.recovered_from is None
        assert not box.pending()  # it works
    if data:  # bytes that are not a database: kept aside once
        kept = [p for p in folder.glob("outbox.sqlite3.damaged-*") if p.suffix != ".tmp"]
        assert len([p for p in kept if not p.name.endswith(("-wal", "-shm"))]) <= 1


@FUZZ
@given(record=contents, state=contents)
def test_sandbox_store(
    tmp_path_factory: pytest.TempPathFactory, record: bytes, state: bytes
) -> None:
    data_dir = tmp_path_factory.mktemp("sandbox")
    root = data_dir / "kaltura"
    (root / "entries").mkdir(parents=True)
    (root / "entries" / "0_good.json").write_text(json.dumps({"id": "0_good"}))
    (root / "entries" / "0_bad.json").write_bytes(record)
    (root / "state.json").write_bytes(state)
    store = Store(data_dir)
    assert store.entries.get("0_good") == {"id": "0_good"}
    assert isinstance(store.state, dict)
    if store.entries.get("0_bad") is None:
        assert not (root / "entries" / "0_bad.json").exists()  # kept aside, not read again
