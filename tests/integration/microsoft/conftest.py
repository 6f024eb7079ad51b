"""Fixtures for signing in to the sandbox identity server the way a person would, minus the person.

MSAL opens the authorization URL with :mod:`webbrowser`; :class:`AutoBrowser` is a
registered ``webbrowser`` controller whose ``open()`` returns at once and completes the
flow on a thread (a blocking browser would deadlock MSAL, docs/protocols.md, "Identity"): it loads
the sandbox's /authorize page and submits its auto-posting form to MSAL's loopback
listener, as a real browser's script would. ``mode="cancel"`` posts the error a cancelled
sign-in returns; ``mode="ignore"`` never answers (a user who walked away).
"""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.microsoft.auth import SignIn, SignInConfig
from app.microsoft.graph import GraphClient
from app.microsoft.token_cache import TokenCacheStore


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


class AutoBrowser(webbrowser.BaseBrowser):
    """A non-human browser for MSAL's interactive flow against the sandbox."""

    def __init__(self, ca_file: str, mode: str = "complete") -> None:
        super().__init__("vmsg-test-browser")
        self.ca_file = ca_file
        self.mode = mode
        self.opened: list[str] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        if self.mode == "ignore":
            return True
        t = threading.Thread(target=self._complete, args=(url,), daemon=True)
        t.start()
        self.threads.append(t)
        return True

    def _complete(self, url: str) -> None:
        try:
            session = requests.Session()
            session.verify = self.ca_file
            session.trust_env = False
            query = parse_qs(urlsplit(url).query)
            redirect = query["redirect_uri"][0]
            loopback = requests.Session()
            loopback.trust_env = False
            if self.mode == "cancel":
                loopback.post(
                    redirect,
                    data={
                        "error": "access_denied",
                        "error_description": "AADSTS50126: the user cancelled the sign-in.",
                        "state": query["state"][0],
                    },
                    timeout=10,
                )
                return
            page = session.get(url, timeout=10)
            page.raise_for_status()
            form = _FormParser()
            form.feed(page.text)
            assert form.action.startswith(redirect.rstrip("/")), (form.action, redirect)
            loopback.post(form.action, data=form.fields, timeout=10)
        except BaseException as exc:  # reported by the test through .errors
            self.errors.append(exc)

    def join(self) -> None:
        for t in self.threads:
            t.join(10)


@pytest.fixture
def auto_browser(ms_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[AutoBrowser]:
    """Registers the non-human browser as the preferred ``webbrowser`` controller."""
    browser = AutoBrowser(str(ms_sandbox.ca_file))
    webbrowser.register_standard_browsers()
    monkeypatch.setattr(webbrowser, "_tryorder", ["vmsg-test-browser"])
    monkeypatch.setitem(webbrowser._browsers, "vmsg-test-browser", [None, browser])  # type: ignore[attr-defined]
    # A display, so the sign-in picks the browser rather than the headless device-code flow.
    monkeypatch.setenv("DISPLAY", ":vmsg-test")
    yield browser
    browser.join()
    assert not browser.errors, browser.errors


def sandbox_config(ms_sandbox: Any, profile: str = "Sandbox", **kw: Any) -> SignInConfig:
    return SignInConfig(
        profile=profile,
        authority=kw.pop("authority", ms_sandbox.identity.authority),
        client_id=kw.pop("client_id", ms_sandbox.client_id),
        ca_file=str(ms_sandbox.ca_file),
        is_sandbox=True,
        **kw,
    )


def plaintext_store(profile: str = "Sandbox", location: Path | None = None) -> TokenCacheStore:
    """A cache that works without a keyring (the keyring test uses the real one)."""

    def no_keyring(_location: str) -> object:
        raise RuntimeError("tests without a Secret Service")

    return TokenCacheStore(
        profile, allow_plaintext=True, location=location, persistence_factory=no_keyring
    )


def make_signin(ms_sandbox: Any, store: TokenCacheStore | None = None, **kw: Any) -> SignIn:
    config_kw = {
        k: kw.pop(k) for k in ("authority", "client_id", "exactly_once_sending") if k in kw
    }
    profile = kw.pop("profile", "Sandbox")
    kw.setdefault("interactive_timeout", 20)
    return SignIn(
        sandbox_config(ms_sandbox, profile, **config_kw),
        store or plaintext_store(profile),
        **kw,
    )


def make_graph(ms_sandbox: Any, signin: SignIn, **kw: Any) -> GraphClient:
    return GraphClient(ms_sandbox.graph_url, signin, ca_file=str(ms_sandbox.ca_file), **kw)
