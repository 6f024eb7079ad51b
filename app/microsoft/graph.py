"""The Microsoft Graph client: TLS, bearer tokens, throttling, paging, batching, error mapping.

One :class:`GraphClient` per signed-in mailbox. It takes a token provider (any object with
``access_token(force_refresh=False) -> str`` and ``handle_claims_challenge(claims)``, see
:class:`TokenProvider`), so it never knows how sign-in works. What it guarantees:

- TLS 1.2 or better, certificate verification always on (``ca_file`` adds a private CA for
  the sandbox); ``http://`` is refused except to a loopback address.
- A fresh bearer token on every attempt (the provider acquires silently; MSAL refreshes a
  token with under five minutes left). A 401 forces one refresh and one retry; a 401 whose
  ``WWW-Authenticate`` carries ``claims=`` (conditional access) hands the claims to the
  provider, which signs in interactively with them, then retries once.
- 429/503/504: ``Retry-After`` honoured, else capped exponential backoff with jitter
  (``sleep`` and ``rng`` injectable); at most ``max_concurrency`` requests in flight
  (Outlook allows 4 concurrent requests per app and mailbox).
- ``@odata.nextLink`` followed exactly as given (:meth:`GraphClient.pages`), re-sending the
  ``ConsistencyLevel`` header; a next link to another host is refused (the bearer token
  must not leave Graph).
- ``/$batch`` (:meth:`GraphClient.batch`) is never re-sent when the server may have acted
  on it without answering: :class:`GraphAmbiguousError`.
- Errors become :class:`GraphError` subclasses whose message a user can act on.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import ipaddress
import json
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from app.errors import MicrosoftError, NetworkError, SignInRequired

log = logging.getLogger(__name__)

ADMIN_GUIDE = "docs/admin-guide.md"
MAX_BATCH = 20
RETRY_STATUSES = frozenset({429, 503, 504})


class TokenProvider(Protocol):
    """What the Graph client needs from sign-in (``app.microsoft.auth.SignIn`` is one)."""

    def access_token(self, force_refresh: bool = False) -> str: ...

    def handle_claims_challenge(self, claims: str) -> None: ...


# --------------------------------------------------------------------------- errors


class GraphError(MicrosoftError):
    """Graph refused a request. ``status`` and ``code`` are Graph's; ``response`` the raw one."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        hint: str = "",
        details: str = "",
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message, hint=hint, details=details)
        self.status = status
        self.code = code
        self.response = response


class MailNotApproved(GraphError):
    """403 ErrorAccessDenied on mail: the tenant has not consented to Mail.Send."""


class DirectoryAccessDenied(GraphError):
    """403 Authorization_RequestDenied on /users: directory search is not allowed."""


class NoMailbox(GraphError):
    """The signed-in account has no Exchange Online mailbox."""


class GraphThrottled(GraphError):
    """Graph kept answering 429/503/504 after every retry."""


class GraphAmbiguousError(GraphError):
    """The request may have reached Graph, but no answer came back: it was not re-sent."""


class GraphCancelled(MicrosoftError):
    """The caller cancelled the request (e.g. a search superseded by newer typing)."""


class InsecureURL(MicrosoftError):
    """A Graph URL that is not HTTPS (only loopback may use http://) or not Graph's host."""


# --------------------------------------------------------------------------- transport


class TLS12Adapter(HTTPAdapter):
    """An HTTPS adapter whose SSL context refuses anything older than TLS 1.2."""

    def __init__(self, **kwargs: Any) -> None:
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self.ssl_context
        return super().proxy_manager_for(*args, **kwargs)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Refuse anything but https:// (and http:// to loopback, for local tools)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise InsecureURL(
        f"Refusing to talk to {parts.scheme or 'an unknown scheme'}://{parts.hostname or ''}: "
        "Microsoft Graph must be reached over HTTPS.",
        hint="Check the Graph address in the profile settings (it must start with https://).",
    )


def secure_session(ca_file: str | None = None, *, pool_size: int = 10) -> requests.Session:
    """A requests.Session with TLS >= 1.2 and verification on (``ca_file`` for a private CA).

    With a ``ca_file`` the environment is ignored (``trust_env=False``): requests would
    otherwise let ``REQUESTS_CA_BUNDLE`` replace it.
    """
    session = requests.Session()
    adapter = TLS12Adapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    if ca_file:
        session.verify = str(ca_file)
        session.trust_env = False
    else:
        session.verify = True
    return session


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


_CLAIMS_RE = re.compile(r'claims\s*=\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def claims_from_www_authenticate(header: str | None) -> str | None:
    """The claims challenge (a JSON string) in a WWW-Authenticate header, or None.

    Graph sends it base64-encoded (``claims="eyJhY2Nlc3NfdG9rZW4iOnsi..."``); MSAL wants the
    JSON itself. Plain JSON is accepted as well.
    """
    if not header:
        return None
    match = _CLAIMS_RE.search(header)
    if not match or not match.group(1).strip():
        return None
    raw = re.sub(r"\\(.)", r"\1", match.group(1)).strip()  # quoted-string escapes
    if raw.startswith("{"):
        try:
            json.loads(raw)
        except ValueError:
            return None
        return raw
    padded = raw + "=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        text = decoded.decode("utf-8")
        json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text


def error_body(resp: requests.Response) -> tuple[str, str]:
    """Graph's ``(error.code, error.message)``, or ``("", "")`` when the body is not Graph's."""
    try:
        data = resp.json()
    except ValueError:
        return "", ""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return "", ""
    return str(err.get("code") or ""), str(err.get("message") or "")


def _is_mail_path(path: str) -> bool:
    low = path.lower()
    return any(p in low for p in ("/sendmail", "/messages", "/mailfolders", "/$batch"))


def map_error(resp: requests.Response, method: str = "", url: str = "") -> GraphError:
    """The GraphError for a 4xx/5xx response, with a message a user can act on."""
    code, message = error_body(resp)
    path = urlsplit(url or resp.url or "").path
    status = resp.status_code
    detail = f"{method} {path} -> {status} {code}: {message}".strip()
    kw: dict[str, Any] = {"status": status, "code": code, "details": detail, "response": resp}
    if code in {"MailboxNotEnabledForRESTAPI", "MailboxNotEnabledForRESTAPIException"}:
        return NoMailbox(
            "This account has no mailbox, so mail cannot be sent from it.",
            hint="Sign in with an account that has an Exchange Online mailbox, "
            "or ask your administrator to assign one.",
            **kw,
        )
    if status == 403 and code == "ErrorAccessDenied" and _is_mail_path(path):
        return MailNotApproved(
            "Your administrator has not approved this app to send mail.",
            hint=f"Ask your Microsoft 365 administrator to grant consent (see {ADMIN_GUIDE}).",
            **kw,
        )
    if status == 403 and code == "Authorization_RequestDenied":
        return DirectoryAccessDenied(
            "Your organization does not allow this app to search the directory.",
            hint="Suggestions come from your own contacts and recent correspondents only.",
            **kw,
        )
    if status == 401:
        return GraphError(
            "Microsoft 365 did not accept your sign-in.",
            hint="Sign in again (vmsg login).",
            **kw,
        )
    if status in RETRY_STATUSES:
        return GraphThrottled(
            "Microsoft 365 is busy or limiting requests right now.",
            hint="Wait a minute and try again.",
            **kw,
        )
    if status >= 500:
        return GraphError(
            f"Microsoft 365 had a problem answering ({status}).",
            hint="Try again in a moment.",
            **kw,
        )
    return GraphError(
        f"Microsoft 365 refused the request: {message or code or status}.",
        hint="If this keeps happening, copy the details and contact support.",
        **kw,
    )


def _certificate_refused(exc: BaseException) -> bool:
    """True when a TLS error is a refused certificate (the handshake never completed)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
        stack.append(getattr(cur, "reason", None))
        stack.append(cur.__cause__)
        stack.append(cur.__context__)
    return False


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (connect failed)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(cur, urllib3.exceptions.MaxRetryError):
            stack.append(cur.reason)
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
        stack.append(cur.__cause__)
        stack.append(cur.__context__)
    return False


# --------------------------------------------------------------------------- client


class GraphClient:
    """A Graph v1.0 client for one mailbox (see the module docstring for what it guarantees)."""

    def __init__(
        self,
        graph_url: str,
        token_provider: TokenProvider,
        *,
        session: requests.Session | None = None,
        ca_file: str | None = None,
        max_concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        check_url(graph_url)
        self.graph_url = graph_url.rstrip("/")
        parts = urlsplit(self.graph_url)
        self._origin = (parts.scheme, parts.netloc.lower())
        self.tokens = token_provider
        self.ca_file = str(ca_file) if ca_file else None
        if session is None:
            session = secure_session(self.ca_file, pool_size=max(10, max_concurrency * 2))
        else:
            session.mount("https://", TLS12Adapter(pool_maxsize=max(10, max_concurrency * 2)))
            if self.ca_file:
                session.verify = self.ca_file
                session.trust_env = False
        self.session = session
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._sleep = sleep
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._rng = rng or random.Random()
        self._stats_lock = threading.Lock()
        #: Counters for tests and benchmarks: requests sent, retries, peak concurrency.
        self.sent = 0
        self.retries = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        #: Called with (attempt, delay_seconds, status) before each backoff wait.
        self.on_backoff: Callable[[int, float, int], None] | None = None

    # ------------------------------------------------------------------ plumbing

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL: a path is joined to the Graph root, a URL must be Graph's own."""
        if path_or_url.startswith(("https://", "http://")):
            check_url(path_or_url)
            parts = urlsplit(path_or_url)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                raise InsecureURL(
                    f"Refusing to send your Microsoft 365 token to {parts.netloc}.",
                    hint="Graph returned a link to another server; this is not expected.",
                )
            return path_or_url
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.graph_url + path_or_url

    def backoff_delay(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half to full of the capped value)."""
        raw = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return float(raw * (0.5 + 0.5 * self._rng.random()))

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise GraphCancelled("The request was cancelled.")
        if seconds > 0:
            if cancel is not None and self._sleep is time.sleep:
                cancel.wait(seconds)  # a cancelled search stops waiting at once
            else:
                self._sleep(seconds)
        if cancel is not None and cancel.is_set():
            raise GraphCancelled("The request was cancelled.")

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        json_body: Any,
        headers: dict[str, str],
        timeout: float,
    ) -> requests.Response:
        with self._slots:
            with self._stats_lock:
                self.sent += 1
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=timeout,
                    verify=self.ca_file or True,
                    allow_redirects=False,
                )
            finally:
                with self._stats_lock:
                    self.in_flight -= 1
        log.debug(
            "graph %s %s -> %s in %.0f ms",
            method,
            urlsplit(url).path,
            resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        return resp

    # ------------------------------------------------------------------ public API

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        retry: bool = True,
        check: bool = True,
        cancel: threading.Event | None = None,
    ) -> requests.Response:
        """Send one request; retry as the module docstring says; raise GraphError on failure.

        ``retry=False`` sends once (apart from the 401 refresh): for requests that must not
        be repeated. ``check=False`` returns 4xx/5xx responses instead of raising.
        """
        method = method.upper()
        url = self.url_for(path_or_url)
        idempotent = method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        attempt = 0
        refreshed = False
        claims_handled = False
        force_refresh = False
        while True:
            if cancel is not None and cancel.is_set():
                raise GraphCancelled("The request was cancelled.")
            token = self.tokens.access_token(force_refresh=force_refresh)
            force_refresh = False
            send_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            send_headers.update(headers or {})
            try:
                resp = self._send(
                    method,
                    url,
                    params=params,
                    json_body=json,
                    headers=send_headers,
                    timeout=timeout,
                )
            except requests.exceptions.SSLError as exc:
                raise NetworkError(
                    f"The secure connection to {urlsplit(url).netloc} failed: the server's "
                    "certificate could not be verified or its TLS version is too old.",
                    hint="Check the network (a proxy may be intercepting HTTPS).",
                    details=str(exc),
                ) from exc
            except requests.RequestException as exc:
                sent = not _never_sent(exc)
                if sent and not idempotent:
                    raise GraphAmbiguousError(
                        "The connection to Microsoft 365 was lost before it answered; the "
                        "request may or may not have been carried out, so it was not repeated.",
                        hint="Check the Sent Items folder before trying again.",
                        details=f"{method} {urlsplit(url).path}: {exc}",
                    ) from exc
                if retry and attempt < self.max_retries:
                    delay = self.backoff_delay(attempt)
                    attempt += 1
                    self._note_retry(attempt, delay, 0)
                    self._wait(delay, cancel)
                    continue
                raise NetworkError(
                    "Microsoft 365 could not be reached.",
                    hint="Check your internet connection and try again.",
                    details=f"{method} {urlsplit(url).path}: {exc}",
                ) from exc

            if resp.status_code == 401:
                claims = claims_from_www_authenticate(resp.headers.get("WWW-Authenticate"))
                if claims and not claims_handled:
                    claims_handled = True
                    log.info("Graph asked for more claims (conditional access); signing in")
                    self.tokens.handle_claims_challenge(claims)
                    continue
                if not refreshed:
                    refreshed = True
                    force_refresh = True
                    continue
                if check:
                    raise SignInRequired(
                        "Microsoft 365 did not accept your sign-in.",
                        hint="Sign in again (vmsg login).",
                        details=f"{method} {urlsplit(url).path} -> 401 {error_body(resp)[0]}",
                    )
                return resp

            if resp.status_code in RETRY_STATUSES and retry and attempt < self.max_retries:
                asked = parse_retry_after(resp.headers.get("Retry-After"))
                delay = self.backoff_delay(attempt) if asked is None else asked
                delay = min(delay, self.max_retry_after)
                attempt += 1
                self._note_retry(attempt, delay, resp.status_code)
                resp.close()
                self._wait(delay, cancel)
                continue

            if check and resp.status_code >= 400:
                raise map_error(resp, method, url)
            return resp

    def _note_retry(self, attempt: int, delay: float, status: int) -> None:
        with self._stats_lock:
            self.retries += 1
        log.info("graph: retry %d in %.2f s (status %s)", attempt, delay, status or "network")
        if self.on_backoff is not None:
            self.on_backoff(attempt, delay, status)

    def get_json(
        self,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        resp = self.request(
            "GET", path_or_url, params=params, headers=headers, timeout=timeout, cancel=cancel
        )
        try:
            data = resp.json()
        except ValueError as exc:
            raise GraphError(
                "Microsoft 365 sent an answer this app cannot read.",
                status=resp.status_code,
                details=resp.text[:200],
                response=resp,
            ) from exc
        if not isinstance(data, dict):
            raise GraphError("Microsoft 365 sent an answer this app cannot read.")
        return data

    def pages(
        self,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        max_pages: int = 100,
        timeout: float = 30.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following ``@odata.nextLink`` exactly as given.

        The next link already holds the query, so ``params`` go with the first request only;
        ``headers`` (e.g. ``ConsistencyLevel: eventual``) are re-sent on every page.
        """
        url: str | None = path_or_url
        first = True
        count = 0
        while url and count < max_pages:
            page = self.get_json(
                url,
                params=params if first else None,
                headers=headers,
                timeout=timeout,
                cancel=cancel,
            )
            first = False
            count += 1
            yield page
            nxt = page.get("@odata.nextLink")
            url = nxt if isinstance(nxt, str) and nxt else None

    def batch(
        self, requests_: list[dict[str, Any]], *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """POST up to 20 requests to ``/$batch``; each item's ``{"id","status","headers","body"}``.

        Items come back in the order they were given. The batch is retried when Graph
        answered that it did not run it (429, 500, 503) or the connection never opened; a
        lost answer, a timeout, 502 or 504 raise :class:`GraphAmbiguousError`.
        """
        if not requests_:
            return []
        if len(requests_) > MAX_BATCH:
            raise ValueError(f"a Graph batch holds at most {MAX_BATCH} requests")
        ids = [str(r.get("id", "")) for r in requests_]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("every batch request needs a unique, non-empty id")
        body = {"requests": requests_}
        attempt = 0
        refreshed = False
        claims_handled = False
        force_refresh = False
        url = self.url_for("/$batch")
        while True:
            token = self.tokens.access_token(force_refresh=force_refresh)
            force_refresh = False
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            }
            try:
                resp = self._send(
                    "POST", url, params=None, json_body=body, headers=headers, timeout=timeout
                )
            except requests.exceptions.SSLError as exc:
                if _certificate_refused(exc):  # the handshake failed: nothing was sent
                    raise NetworkError(
                        "The secure connection to Microsoft 365 failed: its certificate "
                        "was not trusted.",
                        hint="Check the date and time, and any proxy that inspects traffic.",
                        details=str(exc),
                    ) from exc
                # Any other TLS failure can come after the whole request was written.
                raise GraphAmbiguousError(
                    "The secure connection to Microsoft 365 broke before it answered; the "
                    "messages may or may not have been sent, so they were not sent again.",
                    hint="Check the Sent Items folder before sending again.",
                    details=f"POST /$batch: {exc}",
                ) from exc
            except requests.RequestException as exc:
                if _never_sent(exc) and attempt < self.max_retries:
                    delay = self.backoff_delay(attempt)
                    attempt += 1
                    self._note_retry(attempt, delay, 0)
                    self._wait(delay, None)
                    continue
                if _never_sent(exc):
                    raise NetworkError(
                        "Microsoft 365 could not be reached.",
                        hint="Check your internet connection and try again.",
                        details=str(exc),
                    ) from exc
                raise GraphAmbiguousError(
                    "The connection to Microsoft 365 was lost before it answered; the "
                    "messages may or may not have been sent, so they were not sent again.",
                    hint="Check the Sent Items folder before sending again.",
                    details=f"POST /$batch: {exc}",
                ) from exc
            status = resp.status_code
            if status == 401:
                claims = claims_from_www_authenticate(resp.headers.get("WWW-Authenticate"))
                if claims and not claims_handled:
                    claims_handled = True
                    self.tokens.handle_claims_challenge(claims)
                    continue
                if not refreshed:
                    refreshed = True
                    force_refresh = True
                    continue
                raise SignInRequired(
                    "Microsoft 365 did not accept your sign-in.", hint="Sign in again (vmsg login)."
                )
            # 500 and 503 are answers: Graph says it failed the batch, so it is retried (the
            # outbox's "unknown" is only for requests that got no answer). 502/504 come from a
            # gateway that lost track of the backend, which may have run the batch.
            if status in (429, 500, 503) and attempt < self.max_retries:
                asked = parse_retry_after(resp.headers.get("Retry-After"))
                delay = min(
                    self.backoff_delay(attempt) if asked is None else asked, self.max_retry_after
                )
                attempt += 1
                self._note_retry(attempt, delay, status)
                self._wait(delay, None)
                continue
            if status in (500, 503):
                raise NetworkError(
                    f"Microsoft 365 failed the batch ({status}) several times; nothing in it "
                    "was sent.",
                    hint="The messages stay in the outbox and are retried later.",
                    details=resp.text[:200],
                )
            if status in (502, 504):
                raise GraphAmbiguousError(
                    f"Microsoft 365 failed while handling the batch ({status}); some messages "
                    "may have been sent, so none were sent again.",
                    status=status,
                    hint="Check the Sent Items folder before sending again.",
                    response=resp,
                )
            if status >= 400:
                raise map_error(resp, "POST", url)
            try:
                data = resp.json()
                items = data["responses"]
                if not isinstance(items, list):
                    raise TypeError("responses is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise GraphAmbiguousError(
                    "Microsoft 365 answered the batch with something this app cannot read; "
                    "the messages may have been sent.",
                    status=status,
                    details=resp.text[:200],
                    response=resp,
                ) from exc
            by_id = {str(item.get("id")): item for item in items if isinstance(item, dict)}
            out = []
            for rid in ids:
                item = by_id.get(rid)
                if item is None:
                    out.append({"id": rid, "status": 0, "headers": {}, "body": None})
                else:
                    out.append(
                        {
                            "id": rid,
                            "status": int(item.get("status") or 0),
                            "headers": item.get("headers") or {},
                            "body": item.get("body"),
                        }
                    )
            return out

    def close(self) -> None:
        self.session.close()
