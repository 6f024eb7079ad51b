"""Starting the Microsoft half of the sandbox: identity and Graph servers over HTTPS.

:func:`start_microsoft` builds the seeded :class:`~app.sandbox.directory.Directory`, the
:class:`~app.sandbox.identity.IdentitySandbox` and the
:class:`~app.sandbox.graph.GraphSandbox`, and runs each on its own loopback port with the
sandbox CA's certificate (both HTTPS: MSAL refuses ``http://`` authorities, and the app
must use the same code path against the sandbox as against Microsoft). Tenant and client
ids are derived from the seed, so they stay the same across restarts of one data dir and
an MSAL token cache keeps working.

:class:`HeadlessBrowser` is the "person" for the sandbox's interactive sign-in in tests and
demos: a ``webbrowser`` controller whose ``open()`` returns at once and, on a thread, loads
the authorize page and submits its form to MSAL's loopback listener (a blocking browser
would deadlock MSAL, which waits for the redirect on the calling thread).
"""

from __future__ import annotations

import contextlib
import html.parser
import socket
import threading
import uuid
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from app.errors import SandboxError
from app.sandbox.certs import ensure_certificates, server_ssl_context
from app.sandbox.directory import Directory
from app.sandbox.graph import GraphSandbox
from app.sandbox.httpd import RunningServer, serve
from app.sandbox.identity import IdentitySandbox


def tenant_id_for(seed: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://vmsg.sandbox/tenant/{seed}"))


def client_id_for(seed: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://vmsg.sandbox/app/{seed}"))


@dataclass
class MicrosoftSandbox:
    """The running identity and Graph servers of one sandbox."""

    identity: IdentitySandbox
    graph: GraphSandbox
    identity_server: RunningServer
    graph_server: RunningServer
    ca_file: Path
    directory: Directory
    senders: list[dict[str, str]] = field(default_factory=list)

    @property
    def client_id(self) -> str:
        return self.identity.client_id

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    @property
    def authority(self) -> str:
        return self.identity.authority

    @property
    def graph_url(self) -> str:
        return f"{self.graph.base_url}/v1.0"

    @property
    def no_mailbox_user(self) -> dict[str, str]:
        user = self.directory.no_mailbox_user
        return {"email": user.mail, "name": user.displayName}

    def manifest(self) -> dict[str, Any]:
        """The Microsoft sections of ``sandbox.json``."""
        return {
            "identity": {
                "url": self.identity.base_url,
                "tenant": self.tenant_id,
                "authority": self.authority,
                "client_id": self.client_id,
            },
            "graph": {"url": self.graph_url},
            "ca_file": str(self.ca_file),
            "senders": [dict(s) for s in self.senders],
        }

    def session(self) -> requests.Session:
        """A requests session that trusts the sandbox CA and ignores proxy/CA env vars."""
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= (docs/protocols.md, "TLS")
        s.verify = str(self.ca_file)
        return s

    def stop(self) -> None:
        self.graph_server.stop()
        self.identity_server.stop()


def start_microsoft(
    data_dir: Path,
    *,
    identity_port: int = 0,
    graph_port: int = 0,
    directory_size: int = 3000,
    seed: int = 1,
    directory: Directory | None = None,
    **identity_options: Any,
) -> MicrosoftSandbox:
    """Start the identity and Graph servers for ``data_dir`` (created if missing).

    ``directory`` lets a caller share one (immutable) directory between sandboxes, as the
    test fixtures do; otherwise it is built from ``seed`` and ``directory_size``.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = ensure_certificates(data_dir)
    if directory is None:
        try:
            directory = Directory(seed=seed, size=directory_size)
        except ValueError as exc:
            raise SandboxError(
                f"The sandbox cannot make a directory of {directory_size} users: {exc}.",
                hint="Choose a directory size between a few dozen and 100,000 users.",
            ) from exc
    elif directory.seed != seed:
        raise ValueError("the directory was built from another seed")
    identity = IdentitySandbox(
        data_dir,
        directory,
        tenant_id=tenant_id_for(seed),
        client_id=client_id_for(seed),
        **identity_options,
    )
    graph = GraphSandbox(data_dir, identity, directory)
    id_server = serve(
        identity, name="identity", port=identity_port, ssl_context=server_ssl_context(paths)
    )
    try:
        graph_server = serve(
            graph, name="graph", port=graph_port, ssl_context=server_ssl_context(paths)
        )
    except BaseException:
        id_server.stop()
        raise
    for running in (id_server, graph_server):
        _no_delay(running)
    identity.base_url = id_server.url
    graph.base_url = graph_server.url
    id_server.faults.admin_actions.update(identity.admin_actions())
    graph_server.faults.admin_actions.update(graph.admin_actions())
    return MicrosoftSandbox(
        identity=identity,
        graph=graph,
        identity_server=id_server,
        graph_server=graph_server,
        ca_file=paths.ca_file,
        directory=directory,
        senders=[{"email": u.mail, "name": u.displayName} for u in directory.senders],
    )


def _no_delay(running: RunningServer) -> None:
    """Turn Nagle's algorithm off for every connection the server accepts.

    werkzeug writes the head and the body of a response separately; with Nagle on, the
    second write waits for the client's delayed ACK, adding ~12 ms to every keep-alive
    request (measured: /_sandbox/health p50 14 ms -> 3 ms). Linux copies TCP_NODELAY from
    the listening socket to accepted ones.
    """
    with contextlib.suppress(OSError):
        running.server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _FormReader(html.parser.HTMLParser):
    """The first form of a page: its action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and a.get("type") == "hidden":
            self.fields[a.get("name", "")] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


class HeadlessBrowser(webbrowser.BaseBrowser):
    """Completes the sandbox's authorize page like a browser running its script would."""

    def __init__(
        self,
        ca_file: Path,
        *,
        name: str = "vmsg-sandbox",
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__(name)
        self.ca_file = ca_file
        self.on_error = on_error
        self.opened: list[str] = []
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        t = threading.Thread(
            target=self._complete, args=(url,), name="headless-browser", daemon=True
        )
        self.threads.append(t)
        t.start()
        return True

    def _complete(self, url: str) -> None:
        try:
            with requests.Session() as s:
                s.trust_env = False
                page = s.get(url, verify=str(self.ca_file), timeout=10)
                reader = _FormReader()
                reader.feed(page.text)
                if page.status_code != 200 or not reader.action:
                    raise RuntimeError(f"authorize page had no form (HTTP {page.status_code})")
                # The form posts to MSAL's plain-http loopback listener.
                s.post(reader.action, data=reader.fields, timeout=10)
        except BaseException as exc:  # reported to the test, never lost on the thread
            self.errors.append(exc)
            if self.on_error:
                self.on_error(exc)

    def join(self, timeout: float = 10.0) -> None:
        for t in self.threads:
            t.join(timeout)


def register_headless_browser(ca_file: Path, name: str = "vmsg-sandbox") -> HeadlessBrowser:
    """Register a :class:`HeadlessBrowser` as the preferred ``webbrowser`` and return it."""
    browser = HeadlessBrowser(ca_file, name=name)
    webbrowser.register(name, None, browser, preferred=True)
    return browser
