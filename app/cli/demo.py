"""``vmsg demo``: the whole flow on this machine, in a throwaway folder (``app.workflow.demo``).

Records 5 s from the synthetic camera and microphone, starts a sandbox in a temporary
folder, sends the take to three seeded recipients, and prints where to open the emails and
the landing pages (one JSON line per recipient, then a summary line). The sandbox keeps
serving the landing pages until Ctrl+C (or stops at once with ``--no-wait``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.cli.output import emit_json, say
from app.cli.send import print_event, result_line


def register(subparsers: Any, name: str) -> None:
    summary = "Record 5 s, send to three sandbox recipients, show the results."
    d = subparsers.add_parser("demo", help=summary, description=summary)
    d.add_argument("--dir", help="keep the demo's files here (default: a new temporary folder)")
    d.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    d.add_argument("--template", default="personal-note", help="the template to use")
    d.add_argument(
        "--no-wait", action="store_true", help="stop the sandbox at once instead of serving"
    )
    d.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.workflow.demo import run_demo  # noqa: PLC0415

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="vmsg-demo-"))
    say(f"demo folder: {work}")
    demo = run_demo(work, seconds=args.seconds, template=args.template, on_event=print_event)
    try:
        for row in demo.messages:
            emit_json(result_line(row))
        print("", file=sys.stderr)
        say(f"the {len(demo.emails)} emails as the recipients see them (open in a browser):")
        for page in demo.emails:
            print(f"      {page.as_uri()}", file=sys.stderr)
        say("the recipients' landing pages:")
        for url in demo.landing_pages:
            print(f"      {url}", file=sys.stderr)
        emit_json(
            {
                "demo": str(work),
                "emails": [str(p) for p in demo.emails],
                "landing_pages": demo.landing_pages,
                "sent": demo.sent,
            }
        )
        if not args.no_wait:
            say("the sandbox keeps running so the landing pages work; Ctrl+C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if demo.sent == len(demo.messages) else 1
    finally:
        demo.stop()
