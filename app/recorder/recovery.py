"""Crash recovery: find takes left unfinished by a crash and finalize them.

A take whose sidecar still says ``preparing``/``recording``/``paused`` while no live process
owns it was interrupted (crash, kill -9, power loss). Its file holds whole fragments plus
perhaps a torn last one. Finalizing copies the complete fragments, remuxes them into a clean
fragmented MP4 next to it, swaps it in atomically and marks the sidecar ``recovered`` with
the duration that was saved. The original bytes are never modified in place, so a failed
recovery loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from app import system
from app.errors import RecordingError
from app.recorder import media, sidecar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoverableTake:
    video: Path
    state: sidecar.TakeState
    size: int
    complete_fragments: int


def find_recoverable(directory: Path) -> list[RecoverableTake]:
    """Interrupted takes in ``directory`` (not owned by a running recorder)."""
    out: list[RecoverableTake] = []
    if not directory.is_dir():
        return out
    for side in sorted(directory.glob("*" + sidecar.SIDECAR_SUFFIX)):
        try:
            state = sidecar.read_state(side)
        except RecordingError:
            log.warning("unreadable take state %s", side)
            continue
        if state.state not in sidecar.ACTIVE_STATES or sidecar.pid_alive(
            state.pid, state.pid_started
        ):
            continue
        video = side.with_name(state.video)
        if not video.exists():
            continue
        _, pairs = media.complete_fragments_end(video)
        out.append(RecoverableTake(video, state, video.stat().st_size, pairs))
    return out


def finalize(take: RecoverableTake | Path, *, keep_bytes: bool = False) -> sidecar.TakeState:
    """Repair the tail of an interrupted take and mark it ``recovered`` (or ``failed``).

    ``keep_bytes``: the take was being uploaded, so its complete fragments are kept byte
    for byte when they play as they are (a remux would rewrite them, and the upload could
    not resume into the same entry); only the torn tail is cut off.
    """
    video = take.video if isinstance(take, RecoverableTake) else Path(take)
    try:
        state = sidecar.read_state(video)
    except RecordingError:  # a file without (or with a damaged) state file: repair it too
        state = sidecar.TakeState(video=video.name, state="recording")
    end, pairs = media.complete_fragments_end(video)
    if pairs == 0:
        state.state = "failed"
        state.duration = 0.0
        state.notes.append("no complete fragment was written before the interruption")
        sidecar.write_state(video, state)
        raise RecordingError(
            f"Nothing of {video.name} could be saved: it ended before the first second "
            "was written.",
            hint="Record the take again.",
        )
    boxes = media.top_level_boxes(video)
    last = boxes[-1]
    if last.type == "mfra" and last.offset == end and not media.damage(video):
        # The writer closed the file, and the process died before its state said so:
        # nothing is torn. Not a byte changes (an upload may have sent the mfra too).
        whole = media.check_playable(video)
        if whole.playable:
            note = "the file was complete; only its state was not saved"
            return _recovered(video, state, whole.duration, note)
    truncated = video.with_name(video.name + ".recover-src.tmp")
    repaired = video.with_name(video.name + ".recover.tmp")
    try:
        with open(video, "rb") as src, open(truncated, "wb") as dst:
            remaining = end
            while remaining > 0:
                chunk = src.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                dst.write(chunk)
                remaining -= len(chunk)
        if keep_bytes and media.check_playable(truncated).playable:
            # Cut the torn tail off the file itself: same file, same bytes before the cut,
            # so an upload reading it (even from another process, even on Windows, where
            # a file open elsewhere cannot be replaced) goes on with what it has.
            with open(video, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                system.sync_file(fh.fileno())
            check = media.check_playable(video)
            repaired = truncated  # nothing to move into place
        else:
            try:
                media.remux(truncated, repaired)
            except Exception as exc:  # remux failed: the truncated copy is itself valid
                log.warning(
                    "remux of %s failed (%s); keeping the complete fragments as they are",
                    video,
                    exc,
                )
                shutil.copyfile(truncated, repaired)
        if repaired != truncated:
            check = media.check_playable(repaired)
            if not check.playable:
                raise RecordingError(
                    f"The recovered copy of {video.name} does not play: {'; '.join(check.errors)}.",
                    hint="The original file was left untouched.",
                )
            with open(repaired, "rb") as fh:
                system.sync_file(fh.fileno())
            system.private_file(repaired)
            system.replace_file(repaired, video)
    finally:
        for tmp in (truncated, repaired):
            with contextlib.suppress(OSError):
                tmp.unlink()
    return _recovered(
        video,
        state,
        check.duration,
        f"recovered {pairs} complete fragments ({check.duration:.2f} s)",
    )


def _recovered(
    video: Path, state: sidecar.TakeState, duration: float, note: str
) -> sidecar.TakeState:
    """Mark the take ``recovered`` with its duration and size now, saying how."""
    state.state = "recovered"
    state.duration = round(duration, 3)
    state.bytes = video.stat().st_size
    state.stop_reason = state.stop_reason or "crash"
    state.notes.append(note)
    sidecar.write_state(video, state)
    return state
