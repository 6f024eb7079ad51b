"""Persistence: atomic JSON records, unsafe ids refused, unreadable records skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sandbox.kaltura.store import Collection, Store, atomic_write


def test_records_survive_a_new_collection_and_writes_leave_no_temp_files(tmp_path: Path) -> None:
    c = Collection(tmp_path / "things")
    c.put("0_abc", {"n": 1, "name": "Zoë"})
    c.update("0_abc", n=2)
    assert Collection(tmp_path / "things").get("0_abc") == {"n": 2, "name": "Zoë"}
    assert [p.name for p in (tmp_path / "things").iterdir()] == ["0_abc.json"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 65, "a.b", "é"])
def test_unsafe_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="unsafe id"):
        Collection(tmp_path / "c").put(bad, {})


def test_an_unreadable_record_is_skipped_not_fatal(tmp_path: Path) -> None:
    c = Collection(tmp_path / "c")
    c.put("0_good", {"ok": True})
    (tmp_path / "c" / "0_bad.json").write_text("{not json", encoding="utf-8")
    again = Collection(tmp_path / "c")
    assert list(again) == ["0_good"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]  # the write itself fails
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_store_clears_stale_request_parts_and_keeps_state(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_state(admin_secret="s")
    (store.tmp_dir / "part-stale").write_bytes(b"x")
    again = Store(tmp_path)
    assert again.state["admin_secret"] == "s"
    assert not list(again.tmp_dir.iterdir())
