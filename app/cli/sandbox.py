"""``vmsg sandbox``: run the local Kaltura, identity and Graph servers in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app import paths, system
from app.errors import SandboxError


def register(sub: Any, name: str) -> None:
    p = sub.add_parser(
        "sandbox",
        help="Run the local Kaltura, Graph and sign-in servers.",
        description=(
            "Run the built-in sandbox in the foreground: a Kaltura API v3 server, a "
            "Microsoft identity server and a Microsoft Graph server on 127.0.0.1. "
            "Other vmsg processes with VMSG_SANDBOX_DIR set to the same folder use it. "
            "Stop with Ctrl+C."
        ),
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the sandbox keeps its data (default: $VMSG_SANDBOX_DIR or the user data dir)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=0,
        help="Kaltura on PORT, identity on PORT+1, Graph on PORT+2 (default: any free ports)",
    )
    p.add_argument("--users", type=int, default=3000, help="size of the seeded directory")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.workflow import sandbox as sandbox_host  # noqa: PLC0415

    if not 0 <= args.port <= 65533:
        raise SandboxError(f"--port {args.port} is not a usable port number (0-65533).")
    if not 1 <= args.users <= 100_000:
        raise SandboxError("--users must be between 1 and 100000.")
    data_dir = (args.data_dir or paths.sandbox_dir()).expanduser().resolve()
    base = args.port
    sandbox = sandbox_host.start(
        data_dir,
        kaltura_port=base,
        identity_port=base + 1 if base else 0,
        graph_port=base + 2 if base else 0,
        directory_size=args.users,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for signum in system.stop_signals():  # Ctrl+C, TERM, HUP; Ctrl+Break on Windows
        signal.signal(signum, on_signal)
    m = sandbox.manifest
    print(f"Sandbox running (data in {data_dir}):")
    print(f"  Kaltura   {m['kaltura']['url']}  partner {m['kaltura']['partner_id']}")
    print(f"  Identity  {m['identity']['url']}")
    print(f"  Graph     {m['graph']['url']}")
    print(f"  Manifest  {sandbox.manifest_path}")
    print(f"Use it from another terminal: VMSG_SANDBOX_DIR={data_dir} vmsg ...")
    print("Press Ctrl+C to stop.")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        print("Sandbox stopped.")
    return 0
