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
import json
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from app import net
from app.errors import Action, MicrosoftError, NetworkError, SignInRequired

log = logging.getLogger(__name__)

ADMIN_GUIDE = "docs/admin-guide.md"
MAX_BATCH = 20
RETRY_STATUSES = frozenset({429, 503, 504})
#: A batch answered 500 or 503 was not run by Graph (it says so), so it is sent again;
#: 502 and 504 come from a gateway that lost track of a backend that may have run it.
BATCH_RETRY_STATUSES = frozenset({429, 500, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


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
        action: Action | None = None,
    ) -> None:
        super().__init__(message, hint=hint, details=details, action=action)
        self.status = status
        self.code = code
        self.response = response


class MailNotApproved(GraphError):
    """403 ErrorAccessDenied on mail: the tenant has not consented to Mail.Send."""

    default_action = Action.CONTACT_ADMIN


class DirectoryAccessDenied(GraphError):
    """403 Authorization_RequestDenied on /users: directory search is not allowed."""


class NoMailbox(GraphError):
    """The signed-in account has no Exchange Online mailbox."""

    default_action = Action.CONTACT_ADMIN


class GraphThrottled(GraphError):
    """Graph kept answering 429/503/504 after every retry."""

    default_action = Action.RETRY


class GraphAmbiguousError(GraphError):
    """The request may have reached Graph, but no answer came back: it was not re-sent."""

    default_action = Action.CHECK_SENT_ITEMS


class GraphCancelled(MicrosoftError):
    """The caller cancelled the request (e.g. a search superseded by newer typing)."""


class InsecureURL(MicrosoftError):
    """A Graph URL that is not HTTPS (only loopback may use http://) or not Graph's host."""


# --------------------------------------------------------------------------- transport


#: The TLS rules are app.net's, shared with the Kaltura client and MSAL.
TLS12Adapter = net.TLSAdapter


def is_loopback(host: str | None) -> bool:
    return net.is_loopback_host(host)


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
        action=Action.OPEN_SETTINGS,
    )


def secure_session(ca_file: str | None = None, *, pool_size: int = 10) -> requests.Session:
    """A session with TLS >= 1.2 and verification on (``ca_file`` for a private CA)."""
    return net.secure_session(ca_file, pool_size=pool_size)


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
            hint="Sign in again.",
            action=Action.SIGN_IN,
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
            action=Action.RETRY,
            **kw,
        )
    return GraphError(
        f"Microsoft 365 refused the request: {message or code or status}.",
        hint="If this keeps happening, copy the details and contact support.",
        **kw,
    )


#: OpenSSL reasons for a handshake that failed before any request byte was written.
_HANDSHAKE_REASONS = frozenset(
    {
        "CERTIFICATE_VERIFY_FAILED",
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "WRONG_VERSION_NUMBER",
        "NO_PROTOCOLS_AVAILABLE",
    }
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (args, urllib3's ``reason``, cause and context)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
        reason = getattr(cur, "reason", None)  # urllib3's wrapped error; a str on ssl.SSLError
        if isinstance(reason, BaseException):
            stack.append(reason)
        stack.append(cur.__cause__)
        stack.append(cur.__context__)


def _certificate_refused(exc: BaseException) -> bool:
    """True when a TLS error is a refused certificate (the handshake never completed)."""
    return any(isinstance(cur, ssl.SSLCertVerificationError) for cur in _chain(exc))


def _handshake_failed(exc: BaseException) -> bool:
    """True when TLS failed during the handshake (bad certificate, too old a protocol).

    Then no request byte was sent. Any other TLS failure (an EOF, a reset mid-stream) can
    come after the whole request was written, so the request may have been carried out.
    """
    for cur in _chain(exc):
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        if isinstance(cur, ssl.SSLError) and getattr(cur, "reason", None) in _HANDSHAKE_REASONS:
            return True
    return False


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached the server (connect or handshake failed)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _handshake_failed(exc):
        return True
    return any(
        isinstance(cur, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)
        for cur in _chain(exc)
    )


@dataclass(frozen=True)
class _Rules:
    """How one exchange with Graph treats failures (see :meth:`GraphClient._exchange`)."""

    #: The request may be sent again after a failure in which Graph may have acted on it.
    repeatable: bool
    #: Statuses that say Graph did not act and asks to come back (Retry-After honoured).
    retry_statuses: frozenset[int]
    #: Retry at all (connections that never reached Graph, and ``retry_statuses``).
    retry: bool = True
    #: A 401 that persists after a refresh raises SignInRequired (else it is returned).
    raise_on_401: bool = True
    #: Named in messages: what may or may not have been carried out.
    what: str = "the request"


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
        pool = max(10, max_concurrency * 2)
        # The shared TLS rules (app.net); a given session gets them mounted too.
        self.session = net.trust(
            net.mount(session or requests.Session(), pool_size=pool), self.ca_file
        )
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

    # ------------------------------------------------------------------ the attempt loop

    def _check_cancel(self, cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise GraphCancelled("The request was cancelled.")

    def _retry_wait(
        self, attempt: int, status: int, retry_after: str | None, cancel: threading.Event | None
    ) -> None:
        """Back off before attempt ``attempt + 1``: Retry-After if Graph gave one."""
        asked = parse_retry_after(retry_after)
        delay = self.backoff_delay(attempt) if asked is None else asked
        delay = min(delay, self.max_retry_after)
        self._note_retry(attempt + 1, delay, status)
        self._wait(delay, cancel)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None,
        json_body: Any,
        headers: dict[str, str] | None,
        timeout: float,
        cancel: threading.Event | None,
        rules: _Rules,
    ) -> requests.Response:
        """The one attempt loop for single requests and ``$batch``.

        Each attempt gets a fresh token. A connection that never reached Graph is retried;
        one that may have reached it is retried only when ``rules.repeatable``, else it is
        :class:`GraphAmbiguousError`. A 401 with a claims challenge signs in again with the
        claims, any other 401 forces one token refresh; ``rules.retry_statuses`` wait for
        Retry-After (or back off) and try again. Cancel ends every wait at once. Returns
        the last response, whatever its status, for the caller to interpret.
        """
        path = urlsplit(url).path
        attempt = 0
        refreshed = claims_handled = force_refresh = False
        while True:
            self._check_cancel(cancel)
            token = self.tokens.access_token(force_refresh=force_refresh)
            force_refresh = False
            send_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            send_headers.update(headers or {})
            try:
                resp = self._send(
                    method, url, params=params, json_body=json_body,
                    headers=send_headers, timeout=timeout,
                )  # fmt: skip
            except requests.RequestException as exc:
                if not _never_sent(exc) and not rules.repeatable:
                    raise GraphAmbiguousError(
                        "The connection to Microsoft 365 was lost before it answered; "
                        f"{rules.what} may or may not have been carried out, so it was not "
                        "repeated.",
                        hint="Check the Sent Items folder before trying again.",
                        details=f"{method} {path}: {exc}",
                    ) from exc
                if _certificate_refused(exc):
                    raise NetworkError(
                        f"The secure connection to {urlsplit(url).netloc} failed: the "
                        "server's certificate could not be verified.",
                        hint="Check the date and time, and any proxy that inspects HTTPS.",
                        details=str(exc),
                    ) from exc
                if rules.retry and attempt < self.max_retries:
                    self._retry_wait(attempt, 0, None, cancel)
                    attempt += 1
                    continue
                raise NetworkError(
                    "Microsoft 365 could not be reached.",
                    hint="Check your internet connection and try again.",
                    details=f"{method} {path}: {exc}",
                ) from exc
            status = resp.status_code
            if status == 401:
                claims = claims_from_www_authenticate(resp.headers.get("WWW-Authenticate"))
                if claims and not claims_handled:
                    claims_handled = True
                    log.info("Graph asked for more claims (conditional access); signing in")
                    resp.close()
                    self.tokens.handle_claims_challenge(claims)
                    continue
                if not refreshed:
                    refreshed = True
                    force_refresh = True
                    resp.close()
                    continue
                if rules.raise_on_401:
                    raise SignInRequired(
                        "Microsoft 365 did not accept your sign-in.",
                        hint="Sign in again.",
                        details=f"{method} {path} -> 401 {error_body(resp)[0]}",
                    )
                return resp
            if status in rules.retry_statuses and rules.retry and attempt < self.max_retries:
                retry_after = resp.headers.get("Retry-After")
                resp.close()
                self._retry_wait(attempt, status, retry_after, cancel)
                attempt += 1
                continue
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
        rules = _Rules(
            repeatable=method in IDEMPOTENT_METHODS,
            retry_statuses=RETRY_STATUSES,
            retry=retry,
            raise_on_401=check,
        )
        resp = self._exchange(
            method, url, params=params, json_body=json, headers=headers,
            timeout=timeout, cancel=cancel, rules=rules,
        )  # fmt: skip
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
        self,
        requests_: list[dict[str, Any]],
        *,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> list[dict[str, Any]]:
        """POST up to 20 requests to ``/$batch``; each item's ``{"id","status","headers","body"}``.

        Items come back in the order they were given. The batch is retried when Graph
        answered that it did not run it (429, 500, 503) or the connection never opened; a
        lost answer, a timeout, 502 or 504 raise :class:`GraphAmbiguousError`. ``cancel``
        stops before the next attempt (never while one is in flight) with GraphCancelled.
        """
        if not requests_:
            return []
        if len(requests_) > MAX_BATCH:
            raise ValueError(f"a Graph batch holds at most {MAX_BATCH} requests")
        ids = [str(r.get("id", "")) for r in requests_]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("every batch request needs a unique, non-empty id")
        url = self.url_for("/$batch")
        rules = _Rules(repeatable=False, retry_statuses=BATCH_RETRY_STATUSES, what="the messages")
        resp = self._exchange(
            "POST", url, params=None, json_body={"requests": requests_},
            headers={"Content-Type": "application/json"}, timeout=timeout, cancel=cancel,
            rules=rules,
        )  # fmt: skip
        status = resp.status_code
        if status in (500, 503):
            raise NetworkError(
                f"Microsoft 365 failed the batch ({status}) several times; nothing in it was sent.",
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
