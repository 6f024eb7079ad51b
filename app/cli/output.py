"""How the command line talks: progress on stderr, results as JSON on stdout, errors once.

An error's next step (:class:`app.errors.Action`) is core data; this module is where it
becomes the command a terminal user runs (the desktop app renders the same action as a
button).
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

from app.errors import Action, AppError


def say(text: str) -> None:
    """A line of progress for the person at the terminal (stderr)."""
    print(f"vmsg: {text}", file=sys.stderr, flush=True)


def emit_json(data: Any) -> None:
    """One result line on stdout (UTF-8 text, kept as it is)."""
    print(json.dumps(data, ensure_ascii=False), flush=True)


def _profile_flag(profile: str | None) -> str:
    return f" --profile {profile}" if profile else ""


def next_step(exc: AppError, *, profile: str | None = None) -> str:
    """The command-line form of ``exc.action`` ("" when there is none)."""
    flag = _profile_flag(profile)
    action = exc.action
    if action is Action.SIGN_IN:
        return f"To sign in: vmsg{flag} login"
    if action is Action.OPEN_SETTINGS:
        what = f"the setting {exc.setting!r}" if exc.setting else "the profile's settings"
        return f"Change {what} in the settings file; vmsg{flag} doctor shows where it is."
    if action is Action.CHECK_DEVICE:
        return (
            "To see the devices: vmsg devices (a 2 s check: vmsg devices --test); "
            "to record without sound: --mic none; without a camera: --camera synthetic"
        )
    if action is Action.RECOVER_TAKE:
        if exc.target:
            return f"To repair it: vmsg record --recover -o {shlex.quote(exc.target)}"
        return "To finalize interrupted takes: vmsg record --recover -o FOLDER/any.mp4"
    if action is Action.CHECK_SENT_ITEMS:
        return (
            f"Then: vmsg{flag} outbox --resend ID, or vmsg{flag} outbox --mark-sent ID "
            f"(vmsg{flag} outbox lists the IDs)"
        )
    if action is Action.RETRY:
        return "Run the same command again; nothing done so far is repeated."
    if action is Action.CHOOSE_FILE:
        return "Name another file."
    if action is Action.CONTACT_ADMIN:
        return "Your administrator's guide: docs/admin-guide.md"
    if action is Action.FREE_DISK_SPACE:
        return "Free some disk space, or record to another drive with -o."
    if action is Action.ALLOW_DEVICE:
        from app import system  # noqa: PLC0415

        page, _url = system.privacy_page(exc.target or "camera")
        where = f" in {page}" if page else ""
        return f"Allow access to the {exc.target or 'camera'}{where}, then try again."
    return ""


def print_error(exc: AppError, *, profile: str | None = None) -> None:
    """``vmsg: message``, then the hint and the next step, indented."""
    print(f"vmsg: {exc.message}", file=sys.stderr)
    for line in (exc.hint, next_step(exc, profile=profile)):
        if line:
            print(f"      {line}", file=sys.stderr)
