"""``vmsg login``, ``vmsg logout``, ``vmsg whoami`` and ``vmsg people``.

The commands resolve the profile's endpoints (``app.endpoints``) and hand the values to the
Qt-free core (:mod:`app.microsoft.auth`, :mod:`~app.microsoft.graph`,
:mod:`~app.microsoft.search`), which never reads settings itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from app.errors import AppError
from app.microsoft.auth import DeviceCodePrompt, SignIn, SignInConfig
from app.microsoft.graph import GraphClient
from app.microsoft.search import GraphDirectory, RecipientSearch
from app.microsoft.token_cache import TokenCacheStore


@dataclass
class Session:
    """What one command needs: the profile's sign-in, its Graph client and token store."""

    profile: str
    signin: SignIn
    graph: GraphClient
    store: TokenCacheStore


def _print_device_code(prompt: DeviceCodePrompt) -> None:
    text = prompt.message or (
        f"To sign in, open {prompt.verification_uri} and enter the code {prompt.user_code}."
    )
    print(text, file=sys.stderr, flush=True)


def open_session(
    profile: str | None, *, interactive_fallback: bool = False, device_code: bool = False
) -> Session:
    """Build the profile's sign-in and Graph client from its resolved endpoints."""
    from app import endpoints  # noqa: PLC0415 - keeps `vmsg --help` fast

    ep = endpoints.resolve(profile)
    settings = ep.settings
    allow_plaintext = bool(settings and settings.allow_plaintext_token_cache)
    exactly_once = bool(settings and settings.exactly_once_sending)
    ms = ep.microsoft
    ca_file = str(ms.ca_file) if ms.ca_file else None
    store = TokenCacheStore(ep.profile_name, allow_plaintext=allow_plaintext)
    if store.warning:
        print(f"vmsg: warning: {store.warning}", file=sys.stderr)
    config = SignInConfig(
        profile=ep.profile_name,
        authority=ms.authority,
        client_id=ms.client_id,
        ca_file=ca_file,
        is_sandbox=ms.is_sandbox,
        exactly_once_sending=exactly_once,
    )
    from msal import PublicClientApplication  # type: ignore[import-untyped]  # noqa: PLC0415

    signin = SignIn(
        config,
        store,
        interactive_fallback=interactive_fallback,
        prefer_device_code=device_code,
        on_device_code=_print_device_code,
        # A terminal has no window of its own: MSAL's placeholder for console apps.
        parent_window_handle=PublicClientApplication.CONSOLE_WINDOW_HANDLE,
    )
    graph = GraphClient(ms.graph_url, signin, ca_file=ca_file)
    return Session(ep.profile_name, signin, graph, store)


def cmd_login(args: argparse.Namespace) -> int:
    session = open_session(args.profile, device_code=args.device_code)
    session.signin.interactive_timeout = float(args.timeout)
    account = session.signin.sign_in(device_code=args.device_code)
    who = f"{account.name} <{account.username}>" if account.name else account.username
    print(f"Signed in to Microsoft 365 as {who} (profile {session.profile}).")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    session = open_session(args.profile)
    account = session.signin.account()
    message = session.signin.sign_out()
    if account is None:
        print(f"No Microsoft 365 account was signed in for profile {session.profile}.")
    else:
        print(f"Signed out {account.username} from profile {session.profile}.")
    print(message)
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    session = open_session(args.profile)
    account = session.signin.account()
    if account is None:
        if args.json:
            print(json.dumps({"signed_in": False, "profile": session.profile}))
        else:
            print(f"Not signed in to Microsoft 365 (profile {session.profile}). Run: vmsg login")
        return 1
    me = session.graph.get_json("/me", params={"$select": "displayName,mail,userPrincipalName"})
    info: dict[str, Any] = account.as_dict()
    info.update(
        signed_in=True,
        display_name=me.get("displayName") or account.name,
        mail=me.get("mail") or "",
        token_storage=session.store.storage,
        token_storage_encrypted=session.store.is_encrypted,
    )
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    print(f"{info['display_name']} <{info['mail'] or account.username}>")
    print(f"  account:  {account.username} (tenant {account.tenant_id})")
    print(f"  profile:  {session.profile}")
    enc = "encrypted" if session.store.is_encrypted else "NOT encrypted"
    print(f"  sign-in stored in: {session.store.storage} ({enc})")
    if not info["mail"]:
        print("  note: this account has no mailbox; mail cannot be sent from it.")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    if not (args.query or "").strip():
        raise AppError(
            "Say whom to look for: vmsg people QUERY",
            hint='For example: vmsg people "o\'brien"',
        )
    if args.limit < 1:
        raise AppError("--limit must be at least 1.")
    session = open_session(args.profile)
    directory = GraphDirectory(session.graph, people_top=args.limit, users_top=args.limit)
    engine = RecipientSearch(directory, lambda _r: None, max_results=args.limit)
    try:
        results = engine.search(args.query)
    finally:
        engine.close()
        directory.close()
    if results.notice:
        print(f"vmsg: note: {results.notice}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"query": results.query, "suggestions": [s.as_dict() for s in results.suggestions]},
                ensure_ascii=False,
            )
        )
    else:
        for s in results.suggestions:
            print(s.label() if s.source != "typed" else f"{s.address} (typed address)")
        if not results.suggestions:
            print(f"No one found for {results.query!r}.", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add login, logout, whoami and people to the ``vmsg`` parser (see app.cli.COMMANDS)."""
    p = subparsers.add_parser(
        "login",
        help="Sign in to Microsoft 365.",
        description="Sign in to Microsoft 365 (OS broker on Windows/macOS, else the browser; "
        "the device-code flow with --device-code or where no browser can open).",
    )
    p.add_argument(
        "--device-code", action="store_true", help="sign in with a code on another device"
    )
    p.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds"
    )
    p.set_defaults(handler=cmd_login)

    p = subparsers.add_parser(
        "logout",
        help="Disconnect the Microsoft 365 account of this profile.",
        description="Forget this profile's Microsoft 365 sign-in and stored secrets.",
    )
    p.set_defaults(handler=cmd_logout)

    p = subparsers.add_parser("whoami", help="Show who is signed in for this profile.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_whoami)

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
