"""``vmsg upload FILE [--title T]``: upload a video to the profile's Kaltura and print its links.

Prints one JSON line: ``{"entry_id", "landing_url", "thumbnail_url", ...}``. The file is
checked first (it exists and PyAV finds a video stream in it), so nothing is uploaded for a
wrong file. An interrupted upload (Ctrl-C, a crash, a lost network) is resumed by running
the same command again: the job's state is kept in the profile's upload folder and the
upload continues from the server's offset, into the same entry
(``app.workflow.uploads``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.output import emit_json, say


def register(subparsers: Any, name: str) -> None:
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


def cmd_upload(args: argparse.Namespace) -> int:
    from app.endpoints import load_effective  # noqa: PLC0415
    from app.kaltura import entries  # noqa: PLC0415
    from app.kaltura.uploader import EntryMetadata, UploadEvent  # noqa: PLC0415
    from app.workflow.services import Services  # noqa: PLC0415
    from app.workflow.uploads import check_video  # noqa: PLC0415

    path = Path(args.file).expanduser()
    settings, _policy = load_effective()
    limit = settings.profile(args.profile).kaltura.max_upload_mb
    duration = check_video(path, max_mb=limit)  # before any server is touched

    def progress(ev: UploadEvent) -> None:
        if args.quiet:
            return
        if ev.kind == "retrying":
            say(f"{ev.message}; retrying in {ev.retry_in or 0:.1f} s")
        elif ev.kind == "progress" and ev.total:
            pct = 100.0 * ev.confirmed / ev.total
            print(
                f"vmsg: uploaded {pct:5.1f}% ({ev.confirmed} of {ev.total} bytes)", file=sys.stderr
            )

    with Services.open(args.profile) as services:
        recipe = services.uploads(args.user)
        recipe.session.ks()  # wrong settings are reported before anything is created
        meta = EntryMetadata(
            name=args.title or path.stem,
            description=args.description or "",
            tags=args.tags or "",
        )
        try:
            done = recipe.upload_file(path, meta, reuse=False, listener=progress)
        except KeyboardInterrupt:
            say("upload paused; run the same command again to resume.")
            raise
        info = entries.get_entry(recipe.session, done.entry_id)
        if args.wait_ready:
            info = entries.wait_for(recipe.session, done.entry_id, lambda e: e.ready, timeout=600)
        emit_json(
            {
                "entry_id": done.entry_id,
                "landing_url": services.landing_url(done.entry_id),
                "thumbnail_url": info.thumbnail_url or services.thumbnail_url(done.entry_id),
                "status": info.status,
                "bytes": done.size,
                "duration": round(duration, 3),
                "resumed_from": done.resumed_from,
            }
        )
    return 0
