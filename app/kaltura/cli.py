"""``vmsg upload FILE [--title T]``: upload a video to the profile's Kaltura and print its links.

Prints one JSON line: ``{"entry_id", "landing_url", "thumbnail_url", ...}``. The file is
checked first (it exists and PyAV finds a video stream in it), so nothing is uploaded for a
wrong file. An interrupted upload (Ctrl-C, a crash, a lost network) is resumed by running
the same command again: the job's state is kept under the data directory and the upload
continues from the server's offset, into the same entry.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app import paths
from app.errors import AppError
from app.kaltura.errors import UploadError


def uploads_dir(profile: str | None = None) -> Path:
    """Where upload jobs keep their state (one JSON per job); with ``profile``, that
    profile's own folder, since a job can only be resumed with the account that started it."""
    base = paths.data_dir() / "uploads"
    if profile is None:
        return base
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile) or "default"
    return base / safe


def probe_video(path: Path) -> float:
    """The video's duration in seconds; raises UploadError if it is not a readable video."""
    if not path.exists():
        raise UploadError(f"There is no file {path}.", hint="Check the file name.")
    if not path.is_file():
        raise UploadError(f"{path} is not a file.", hint="Name a video file.")
    if path.stat().st_size == 0:
        raise UploadError(f"{path} is empty.", hint="Name a video file.")
    import av  # noqa: PLC0415 - PyAV is heavy; only this command needs it

    try:
        with av.open(str(path)) as container:
            streams = list(container.streams.video)
            if not streams:
                raise UploadError(
                    f"{path} has no video in it.", hint="Name a video file (MP4, MOV, WebM)."
                )
            duration = float(container.duration or 0) / 1_000_000
            if duration <= 0 and streams[0].duration and streams[0].time_base:
                duration = float(streams[0].duration * streams[0].time_base)
            return duration
    except UploadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise UploadError(
            f"{path} is not a video this app can read.",
            hint="Name a video file (MP4, MOV, WebM).",
            details=str(exc),
        ) from exc


def _user_for(ep: Any, explicit: str | None) -> str:
    if explicit:
        return explicit
    if ep.is_sandbox and ep.senders:
        return str(ep.senders[0]["email"])
    try:
        from app.microsoft.cli import open_session  # noqa: PLC0415

        account = open_session(ep.profile_name).signin.account()
    except (AppError, ImportError, OSError):
        account = None
    if account is None:
        raise UploadError(
            "No one is signed in, so there is no Kaltura user to upload as.",
            hint="Run 'vmsg login' first, or pass --user EMAIL.",
        )
    return str(account.username)


def open_kaltura(ep: Any, user_id: str) -> Any:
    """A :class:`KalturaSession` for the profile's Kaltura endpoint."""
    from app import endpoints as endpoints_mod  # noqa: PLC0415
    from app import secrets  # noqa: PLC0415
    from app.kaltura.client import KalturaClient  # noqa: PLC0415
    from app.kaltura.errors import KalturaSettingsError  # noqa: PLC0415
    from app.kaltura.session import (  # noqa: PLC0415
        AdminSecretCredentials,
        AppTokenCredentials,
        Credentials,
        KalturaSession,
        LoginCredentials,
    )

    k = ep.kaltura
    client = KalturaClient(k.service_url, partner_id=k.partner_id, ca_file=k.ca_file)
    creds: Credentials
    if k.app_token_id and k.app_token:
        creds = AppTokenCredentials(k.app_token_id, k.app_token, k.app_token_hash_type or "SHA1")
    elif k.app_token_id:
        raise KalturaSettingsError(
            "app_token",
            f'The app token for app token id "{k.app_token_id}" is not stored on this computer.',
            hint="Enter the app token in the profile's settings (it is kept in the system's "
            "secure storage).",
        )
    elif k.login_id:
        password = secrets.fetch(ep.profile_name, endpoints_mod.KALTURA_PASSWORD_SECRET)
        if not password:
            raise KalturaSettingsError(
                "password",
                f'No Kaltura password is stored for "{k.login_id}".',
                hint="Enter it in the profile's settings.",
            )
        creds = LoginCredentials(k.login_id, password)
    elif ep.is_sandbox and k.admin_secret:
        creds = AdminSecretCredentials(k.admin_secret)
    else:
        raise KalturaSettingsError(
            "app_token_id",
            f'The profile "{ep.profile_name}" has no way to sign in to Kaltura.',
            hint="Set an app token id and token (or a Kaltura login) in the profile.",
        )
    return KalturaSession(client, creds, user_id=user_id, sandbox=bool(ep.is_sandbox))


def cmd_upload(args: argparse.Namespace) -> int:
    from app import endpoints  # noqa: PLC0415
    from app.kaltura import entries, links  # noqa: PLC0415
    from app.kaltura.uploader import EntryMetadata, Uploader, UploadEvent  # noqa: PLC0415

    path = Path(args.file).expanduser()
    duration = probe_video(path)
    ep = endpoints.resolve(args.profile)
    session = open_kaltura(ep, _user_for(ep, args.user))
    session.ks()  # wrong settings are reported before anything is created
    category_id = (
        entries.find_category(session, ep.kaltura.category) if ep.kaltura.category else None
    )

    def progress(ev: UploadEvent) -> None:
        if args.quiet:
            return
        if ev.kind == "retrying":
            print(f"vmsg: {ev.message}; retrying in {ev.retry_in or 0:.1f} s", file=sys.stderr)
        elif ev.kind == "progress" and ev.total:
            pct = 100.0 * ev.confirmed / ev.total
            print(
                f"vmsg: uploaded {pct:5.1f}% ({ev.confirmed} of {ev.total} bytes)", file=sys.stderr
            )

    uploader = Uploader(session, state_dir=uploads_dir(ep.profile_name), on_event=progress)
    meta = EntryMetadata(
        name=args.title or path.stem,
        description=args.description or "",
        tags=args.tags or "",
    )
    job = uploader.begin(path, meta, category_id=category_id)
    try:
        result = job.wait()
    except KeyboardInterrupt:
        print("vmsg: upload paused; run the same command again to resume.", file=sys.stderr)
        raise
    info = entries.wait_for(session, result.entry_id, lambda e: e.has_content, timeout=60)
    if args.wait_ready:
        info = entries.wait_for(session, result.entry_id, lambda e: e.ready, timeout=600)
    out = {
        "entry_id": result.entry_id,
        "landing_url": links.landing_url(ep.kaltura, result.entry_id),
        "thumbnail_url": info.thumbnail_url or links.thumbnail_url(ep.kaltura, result.entry_id),
        "status": info.status,
        "bytes": result.size,
        "duration": round(duration, 3),
        "resumed_from": result.resumed_from,
    }
    print(json.dumps(out))
    return 0


def register(subparsers: Any) -> None:
    summary = "Upload a video to Kaltura and print its links."
    p = subparsers.add_parser("upload", help=summary, description=summary)
    p.add_argument("file", help="the video file (MP4, MOV, WebM)")
    p.add_argument("--title", help="the entry's name (default: the file name)")
    p.add_argument("--description", help="the entry's description")
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--user", metavar="EMAIL", help="the Kaltura user (default: who is signed in)")
    p.add_argument("--wait-ready", action="store_true", help="wait until Kaltura has processed it")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=cmd_upload)


class StreamingUpload:
    """``vmsg record --upload``: the take is uploaded while it is being recorded.

    Created when recording starts; the entry (and so the share link) exists as soon as
    :meth:`start` returns. :meth:`finish` is called at stop with the final size and returns
    when every byte is confirmed and the entry has its content.
    """

    def __init__(self, profile: str | None, path: Path, *, title: str, user: str | None) -> None:
        from app import endpoints  # noqa: PLC0415

        self.path = path
        self.title = title
        self.ep = endpoints.resolve(profile)
        self.session = open_kaltura(self.ep, _user_for(self.ep, user))
        self.session.ks()  # wrong settings are reported before the take starts
        self.job: Any = None

    def start(self) -> dict[str, str]:
        """Begin following the growing file; returns the entry id and its links."""
        from app.kaltura import entries, links  # noqa: PLC0415
        from app.kaltura.uploader import EntryMetadata, Uploader  # noqa: PLC0415

        category_id = (
            entries.find_category(self.session, self.ep.kaltura.category)
            if self.ep.kaltura.category
            else None
        )
        uploader = Uploader(self.session, state_dir=uploads_dir(self.ep.profile_name))
        self.job = uploader.begin(
            self.path, EntryMetadata(name=self.title), growing=True, category_id=category_id
        )
        entry_id = self.job.wait_entry(timeout=60)
        return {
            "entry_id": entry_id,
            "landing_url": links.landing_url(self.ep.kaltura, entry_id),
            "thumbnail_url": links.thumbnail_url(self.ep.kaltura, entry_id),
        }

    def finish(self, final_size: int) -> dict[str, Any]:
        """Upload the tail, finalize, and wait until the entry has its content."""
        from app.kaltura import entries  # noqa: PLC0415

        started = time.monotonic()
        self.job.finish(final_size=final_size)
        result = self.job.wait()
        info = entries.wait_for(self.session, result.entry_id, lambda e: e.has_content, timeout=60)
        return {
            "entry_id": result.entry_id,
            "bytes": result.size,
            "status": info.status,
            "stop_to_confirmed_s": round(time.monotonic() - started, 3),
        }

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel(keep_entry=False)
