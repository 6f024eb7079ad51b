"""``vmsg login``, ``vmsg logout``, ``vmsg whoami`` and ``vmsg people``.

The profile's sign-in, Graph client and recipient search come from the workflow's
:class:`~app.workflow.services.Services`; these commands only ask and print.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.cli.output import say
from app.errors import AppError


def _print_device_code(prompt: Any) -> None:
    text = prompt.message or (
        f"To sign in, open {prompt.verification_uri} and enter the code {prompt.user_code}."
    )
    print(text, file=sys.stderr, flush=True)


def open_services(profile: str | None, *, device_code: bool = False, timeout: float = 300.0) -> Any:
    """The profile's services as a terminal signs in: device codes printed, MSAL's console
    placeholder as the broker's parent window."""
    from msal import PublicClientApplication  # type: ignore[import-untyped]  # noqa: PLC0415

    from app.workflow.events import Notice  # noqa: PLC0415
    from app.workflow.services import Services, SignInOptions  # noqa: PLC0415

    def show(event: object) -> None:
        if isinstance(event, Notice) and event.level == "warning":
            say(f"warning: {event.message}")

    options = SignInOptions(
        # A terminal has no window of its own: MSAL's placeholder for console apps.
        parent_window_handle=PublicClientApplication.CONSOLE_WINDOW_HANDLE,
        on_device_code=_print_device_code,
        prefer_device_code=device_code,
        timeout=timeout,
    )
    return Services.open(profile, sign_in=options, on_event=show)


def cmd_login(args: argparse.Namespace) -> int:
    with open_services(args.profile, device_code=args.device_code, timeout=args.timeout) as s:
        account = s.sign_in(device_code=args.device_code)
        who = f"{account.name} <{account.username}>" if account.name else account.username
        print(f"Signed in to Microsoft 365 as {who} (profile {s.profile_name}).")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    with open_services(args.profile) as s:
        account = s.account()
        message = s.disconnect()
        if account is None:
            print(f"No Microsoft 365 account was signed in for profile {s.profile_name}.")
        else:
            print(f"Signed out {account.username} from profile {s.profile_name}.")
        print(message)
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    with open_services(args.profile) as s:
        account = s.account()
        if account is None:
            if args.json:
                print(json.dumps({"signed_in": False, "profile": s.profile_name}))
            else:
                print(f"Not signed in to Microsoft 365 (profile {s.profile_name}). Run: vmsg login")
            return 1
        me = s.me()
        store = s.token_store
        info: dict[str, Any] = account.as_dict()
        info.update(
            signed_in=True,
            display_name=me.get("displayName") or account.name,
            mail=me.get("mail") or "",
            token_storage=store.storage,
            token_storage_encrypted=store.is_encrypted,
        )
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
            return 0
        print(f"{info['display_name']} <{info['mail'] or account.username}>")
        print(f"  account:  {account.username} (tenant {account.tenant_id})")
        print(f"  profile:  {s.profile_name}")
        enc = "encrypted" if store.is_encrypted else "NOT encrypted"
        print(f"  sign-in stored in: {store.storage} ({enc})")
        if not info["mail"]:
            print("  note: this account has no mailbox; mail cannot be sent from it.")
    return 0


#: The secrets a profile can keep in the OS keyring, as ``vmsg secret`` names them.
SECRET_NAMES = ("kaltura-app-token", "kaltura-password", "smtp-password")


def _secret_profile(name: str | None) -> str:
    from app.endpoints import load_effective  # noqa: PLC0415

    settings, _policy = load_effective()
    return settings.profile(name).name


def cmd_secret(args: argparse.Namespace) -> int:
    """Store or delete one of the profile's secrets in the OS keyring (the frozen app has
    no ``keyring`` command; the desktop app stores the app token from its settings)."""
    import getpass  # noqa: PLC0415

    from app import secrets  # noqa: PLC0415

    if args.name not in SECRET_NAMES:
        raise AppError(
            f"There is no secret named {args.name!r}.", hint=f"One of: {', '.join(SECRET_NAMES)}."
        )
    profile = _secret_profile(args.profile)
    if args.action == "delete":
        found = secrets.delete(profile, args.name)
        print(f"{args.name} {'deleted' if found else 'was not stored'} for profile {profile}.")
        return 0
    if args.stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise AppError(
                "No terminal to type the secret in.", hint="Pipe it in with --stdin instead."
            )
        value = getpass.getpass(f"{args.name} for profile {profile} (not shown): ")
    if not value:
        raise AppError("The secret is empty; nothing was stored.")
    secrets.store(profile, args.name, value)
    backend = secrets.backend_info()
    where = "the OS keyring" if backend.secure else f"{backend.name} (NOT encrypted)"
    print(f"{args.name} stored for profile {profile} in {where}.")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    from app.microsoft.search import GraphDirectory, RecipientSearch  # noqa: PLC0415

    if not (args.query or "").strip():
        raise AppError(
            "Say whom to look for: vmsg people QUERY",
            hint='For example: vmsg people "o\'brien"',
        )
    if args.limit < 1:
        raise AppError("--limit must be at least 1.")
    with open_services(args.profile) as s:
        directory = GraphDirectory(s.graph, people_top=args.limit, users_top=args.limit)
        engine = RecipientSearch(directory, lambda _r: None, max_results=args.limit)
        try:
            results = engine.search(args.query)
        finally:
            engine.close()
            directory.close()
    if results.notice:
        say(f"note: {results.notice}")
    if args.json:
        print(
            json.dumps(
                {"query": results.query, "suggestions": [s.as_dict() for s in results.suggestions]},
                ensure_ascii=False,
            )
        )
    else:
        for item in results.suggestions:
            print(item.label() if item.source != "typed" else f"{item.address} (typed address)")
        if not results.suggestions:
            print(f"No one found for {results.query!r}.", file=sys.stderr)
    return 0


def register(subparsers: Any, name: str) -> None:
    """Add one of login, logout, whoami, secret and people to the ``vmsg`` parser."""
    if name == "login":
        p = subparsers.add_parser(
            "login",
            help="Sign in to Microsoft 365.",
            description="Sign in to Microsoft 365 (OS broker on Windows/macOS, else the "
            "browser; the device-code flow with --device-code or where no browser can open).",
        )
        p.add_argument(
            "--device-code", action="store_true", help="sign in with a code on another device"
        )
        p.add_argument(
            "--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds"
        )
        p.set_defaults(handler=cmd_login)
    elif name == "logout":
        p = subparsers.add_parser(
            "logout",
            help="Disconnect the Microsoft 365 account of this profile.",
            description="Forget this profile's Microsoft 365 sign-in and stored secrets.",
        )
        p.set_defaults(handler=cmd_logout)
    elif name == "whoami":
        p = subparsers.add_parser("whoami", help="Show who is signed in for this profile.")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=cmd_whoami)
    elif name == "secret":
        p = subparsers.add_parser(
            "secret",
            help="Store or delete a secret of this profile in the OS keyring.",
            description="Store (typed without echo, or read from standard input with "
            "--stdin) or delete one of the profile's secrets in the OS keyring: "
            + ", ".join(SECRET_NAMES) + ".",
        )  # fmt: skip
        p.add_argument("action", choices=("set", "delete"))
        p.add_argument("name", metavar="NAME", help=" | ".join(SECRET_NAMES))
        p.add_argument("--stdin", action="store_true", help="read the secret from stdin")
        p.set_defaults(handler=cmd_secret)
    elif name == "people":
        p = subparsers.add_parser(
            "people",
            help="Search the directory for recipients.",
            description="Print ranked recipient suggestions for QUERY, one per line.",
        )
        # Optional for argparse so a missing query gets our message, not a usage dump.
        p.add_argument("query", metavar="QUERY", nargs="?")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--limit", type=int, default=10, metavar="N", help="at most N suggestions")
        p.set_defaults(handler=cmd_people)
