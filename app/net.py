"""The one way this app opens HTTPS connections: TLS 1.2 or newer, certificates always checked.

Both API clients (``app.kaltura.client`` and ``app.microsoft.graph``) and the MSAL sign-in
take their ``requests.Session`` from :func:`secure_session`, so the rules live in one place:

- the TLS context refuses anything older than TLS 1.2 and always verifies the server's
  certificate and host name; a request that asks to skip that check is refused, whatever
  a caller passes;
- ``ca_file`` adds a private CA (the built-in sandbox, a private Kaltura deployment). With a
  CA file the environment is ignored (``trust_env=False``): requests would otherwise let
  ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` replace it (docs/protocols.md, "TLS");
- plain ``http://`` is mounted too, for loopback servers only: each client checks its URLs
  with :func:`is_loopback_host` before it sends anything there.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from app.errors import AppError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class InsecureRequest(AppError):
    """Something asked for a connection without certificate verification."""


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)


class TLSAdapter(HTTPAdapter):
    """An HTTPS adapter whose SSL context requires TLS 1.2+ and a verified certificate."""

    def __init__(self, **kwargs: Any) -> None:
        ctx = ssl.create_default_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context = ctx
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self.ssl_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def send(  # noqa: PLR0917 - the signature of HTTPAdapter.send
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        if verify is False:
            raise InsecureRequest(
                "Refusing to connect without checking the server's certificate.",
                hint="Certificate checks cannot be turned off in this app.",
            )
        return super().send(request, stream, timeout, verify, cert, proxies)


def mount(session: requests.Session, *, pool_size: int = 10) -> requests.Session:
    """Give ``session`` the TLS adapter (https) and a plain pool (http, loopback only)."""
    session.mount("https://", TLSAdapter(pool_connections=4, pool_maxsize=pool_size))
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
    return session


def trust(session: requests.Session, ca_file: str | Path | None) -> requests.Session:
    """Verify with the system CAs, plus ``ca_file`` when given (then ignoring the env)."""
    if ca_file:
        session.verify = str(ca_file)
        session.trust_env = False
    else:
        session.verify = True
    return session


def secure_session(
    ca_file: str | Path | None = None,
    *,
    pool_size: int = 10,
    user_agent: str | None = None,
) -> requests.Session:
    """A new session with :class:`TLSAdapter` mounted and ``ca_file`` trusted."""
    session = mount(requests.Session(), pool_size=pool_size)
    trust(session, ca_file)
    if user_agent:
        session.headers["User-Agent"] = user_agent
    return session
