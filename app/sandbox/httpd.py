"""The sandbox's HTTP plumbing: a threaded werkzeug server on loopback with fault injection.

Why werkzeug: it is the maintained WSGI toolkit under Flask, its threaded server does
TLS, and its request parsing (multipart, forms, query strings) is what real frameworks
use, so the sandbox never hand-parses HTTP. Each sandbox service (Kaltura, Graph,
identity) is a plain WSGI application; :func:`serve` runs one on ``127.0.0.1`` (port 0 by
default) behind :class:`FaultInjector`, which can add latency, limit bandwidth, fail a
share of requests (500, 503, connection reset mid-request, a stall past the client's
timeout, or "accepted but the response lost"), throttle with 429, and it keeps a request
log tests read. Faults are set at run time through the Python API or the admin API::

    GET  /_sandbox/health           -> {"ok": true}
    GET  /_sandbox/faults           -> the current FaultConfig as JSON
    PUT  /_sandbox/faults           <- a FaultConfig as JSON (fields omitted = defaults)
    GET  /_sandbox/requests         -> the request log
    POST /_sandbox/requests/clear

Every admin route but ``health`` needs the sandbox's admin token in the
``X-Sandbox-Admin`` header (from ``sandbox.json``, or ``FaultInjector.admin_token``), and a
body, when there is one, must be JSON: a web page the user opens cannot set that header
without a CORS preflight the sandbox never grants, so it can neither change faults nor
read the request log (a "simple" cross-origin POST needs no preflight).

Odd requests never break a server: a request line over 64 KB gets 414, oversized or too
many headers 431, malformed HTTP 400 or 505, each as an HTTP answer; an error inside the
server is logged (at ERROR: tests fail on it), never printed and dropped.

Decisions are deterministic under ``FaultConfig.seed``: the n-th matching request gets
the same fate in every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import io
import json
import logging
import random
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

FAILURE_MODES = ("500", "503", "reset", "stall", "lost_response")
#: The header carrying the admin token (see the module docstring).
ADMIN_HEADER = "X-Sandbox-Admin"


class ResetConnection(ConnectionResetError):
    """Raised inside a request to make the server drop the connection with a TCP RST."""


@dataclass
class FaultConfig:
    """What the fault injector does. All off by default."""

    #: Added before each matching request is handled.
    latency_ms: float = 0.0
    #: Request-body (client upload) rate limit in bytes per second; 0 = unlimited.
    upload_bytes_per_s: float = 0.0
    #: Response-body (client download) rate limit in bytes per second; 0 = unlimited.
    download_bytes_per_s: float = 0.0
    #: Share of matching requests that fail, 0..1.
    failure_rate: float = 0.0
    #: Which failures to pick from (uniformly): see FAILURE_MODES.
    failure_modes: list[str] = field(default_factory=lambda: list(FAILURE_MODES))
    #: How long a "stall" holds the connection before resetting it.
    stall_seconds: float = 30.0
    #: Share of matching requests answered 429 with Retry-After.
    throttle_rate: float = 0.0
    #: Throttle the next N matching requests (then stop), in addition to throttle_rate.
    throttle_next: int = 0
    retry_after_seconds: float = 1.0
    #: Only requests whose path matches this regex are affected ("" = all but /_sandbox/).
    match: str = ""
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        cfg = cls(**data)
        bad = [m for m in cfg.failure_modes if m not in FAILURE_MODES]
        if bad:
            raise ValueError(f"unknown failure modes: {', '.join(bad)}")
        re.compile(cfg.match)
        return cfg


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (for tests: counts, paths, outcomes)."""

    time: float
    method: str
    path: str
    query: str
    status: int  # 0 when the connection was dropped on purpose
    fault: str  # "" or the injected failure / "throttle"
    bytes_in: int
    duration: float


class _Bucket:
    """A token bucket shared by all connections of one direction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_free = time.monotonic()

    def take(self, nbytes: int, rate: float) -> None:
        if rate <= 0 or nbytes <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_free)
            self._next_free = start + nbytes / rate
            wait = self._next_free - now
        if wait > 0:
            time.sleep(wait)


class _ThrottledInput(io.RawIOBase):
    """wsgi.input wrapper: stops at Content-Length, paces reads, can reset part-way."""

    def __init__(
        self,
        raw: Any,
        limit: int | None,
        bucket: _Bucket,
        rate: Callable[[], float],
        reset_after: int | None,
    ) -> None:
        self._raw = raw
        self._limit = limit
        self._bucket = bucket
        self._rate = rate
        self._reset_after = reset_after
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = len(view)
        if self._limit is not None:
            want = min(want, self._limit - self.count)
        rate = self._rate()
        if rate > 0:
            want = min(want, 64 * 1024)
        if self._reset_after is not None:
            if self.count >= self._reset_after:
                raise ResetConnection("sandbox fault: connection reset mid-request")
            want = min(want, self._reset_after - self.count)
        if want <= 0:
            return 0
        data = self._raw.read(want)
        n = len(data)
        view[:n] = data
        self.count += n
        self._bucket.take(n, rate)
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Read ``size`` bytes (fewer only at the end of the body); -1 reads it all."""
        out = bytearray()
        while size is None or size < 0 or len(out) < size:
            want = 1 << 20 if size is None or size < 0 else min(1 << 20, size - len(out))
            chunk = bytearray(want)
            n = self.readinto(chunk)
            if not n:
                break
            out += chunk[:n]
        return bytes(out)

    def readline(self, size: int | None = -1) -> bytes:
        if self._limit is not None:
            remaining = self._limit - self.count
            if remaining <= 0:
                return b""
            size = remaining if size is None or size < 0 else min(size, remaining)
        line: bytes = self._raw.readline(size if size is not None else -1)
        self.count += len(line)
        self._bucket.take(len(line), self._rate())
        return line


class FaultInjector:
    """WSGI middleware applying a :class:`FaultConfig` and serving ``/_sandbox/``."""

    def __init__(self, app: WSGIApp, name: str = "sandbox", admin_token: str = "") -> None:
        self.app = app
        self.name = name
        #: What the admin API wants in ADMIN_HEADER (one per sandbox run; see the module).
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._match: re.Pattern[str] | None = None
        self._up = _Bucket()
        self._down = _Bucket()
        self.requests: list[RequestRecord] = []
        self.stopping = threading.Event()
        #: Extra admin routes a service adds, e.g. "expire-tokens": callable returning JSON.
        self.admin_actions: dict[str, Callable[[dict[str, Any]], Any]] = {}

    # ----------------------------------------------------------------- Python API

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return dataclasses.replace(self._config)

    def configure(self, config: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replace the config (or change some fields of the current one) and reseed."""
        with self._lock:
            base = config or self._config
            cfg = dataclasses.replace(base, **changes) if changes else base
            FaultConfig.from_json(dataclasses.asdict(cfg))  # validate
            self._config = cfg
            self._rng = random.Random(cfg.seed)
            self._match = re.compile(cfg.match) if cfg.match else None
            return dataclasses.replace(cfg)

    def reset(self) -> None:
        self.configure(FaultConfig())

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def request_log(self, path_regex: str = "") -> list[RequestRecord]:
        with self._lock:
            records = list(self.requests)
        if path_regex:
            pat = re.compile(path_regex)
            records = [r for r in records if pat.search(r.path)]
        return records

    # ----------------------------------------------------------------- WSGI

    def _decide(self, path: str) -> tuple[FaultConfig, bool, str]:
        """(config, affected, fault) for one request, under the lock for determinism."""
        with self._lock:
            cfg = self._config
            affected = not path.startswith("/_sandbox/") and (
                self._match is None or bool(self._match.search(path))
            )
            fault = ""
            if affected:
                if self._config.throttle_next > 0:
                    self._config = dataclasses.replace(
                        self._config, throttle_next=self._config.throttle_next - 1
                    )
                    fault = "throttle"
                elif cfg.throttle_rate and self._rng.random() < cfg.throttle_rate:
                    fault = "throttle"
                elif cfg.failure_rate and self._rng.random() < cfg.failure_rate:
                    fault = self._rng.choice(cfg.failure_modes or list(FAILURE_MODES))
            return cfg, affected, fault

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)
            if len(self.requests) > 100_000:
                del self.requests[:50_000]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response)
        started = time.monotonic()
        cfg, affected, fault = self._decide(path)
        status_box: list[int] = [0]

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_box[0] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        reset_after: int | None = None
        if fault == "reset":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            reset_after = length // 2
        limit: int | None = None
        if not environ.get("wsgi.input_terminated"):
            try:
                limit = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                limit = 0
        stream = _ThrottledInput(
            environ["wsgi.input"],
            limit,
            self._up,
            (lambda: self._config.upload_bytes_per_s) if affected else (lambda: 0.0),
            reset_after,
        )
        environ["wsgi.input"] = stream

        def finish(status: int, what: str = "") -> None:
            self._record(
                RequestRecord(
                    time=time.time(),
                    method=environ.get("REQUEST_METHOD", ""),
                    path=path,
                    query=environ.get("QUERY_STRING", ""),
                    status=status,
                    fault=what,
                    bytes_in=stream.count,
                    duration=time.monotonic() - started,
                )
            )

        if affected and cfg.latency_ms > 0:
            self.stopping.wait(cfg.latency_ms / 1000.0)
        if fault == "throttle":
            finish(429, fault)
            return _throttled(
                start_response, cfg.retry_after_seconds, environ.get("HTTP_CLIENT_REQUEST_ID", "")
            )
        if fault in ("500", "503"):
            _drain(stream)
            finish(int(fault), fault)
            return _server_error(start_response, int(fault))
        if fault == "stall":
            _drain(stream)
            finish(0, fault)
            self.stopping.wait(cfg.stall_seconds)
            raise ResetConnection("sandbox fault: stalled")
        if fault == "reset":
            try:
                _drain(stream)  # raises ResetConnection half-way through the body
            finally:
                finish(0, fault)
            raise ResetConnection("sandbox fault: reset")

        body_iter = self.app(environ, recording_start_response)
        if fault == "lost_response":
            try:
                for _ in body_iter:
                    pass
            finally:
                close = getattr(body_iter, "close", None)
                if close:
                    close()
            finish(0, fault)
            raise ResetConnection("sandbox fault: response lost after the request was handled")
        finish(status_box[0])
        rate = cfg.download_bytes_per_s if affected else 0.0
        if rate > 0:
            return self._paced(body_iter, rate)
        return body_iter

    def _paced(self, body: Iterable[bytes], rate: float) -> Iterator[bytes]:
        try:
            for chunk in body:
                for i in range(0, len(chunk), 64 * 1024):
                    piece = chunk[i : i + 64 * 1024]
                    self._down.take(len(piece), rate)
                    yield piece
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

    def admin_headers(self) -> dict[str, str]:
        """The header the admin API wants (for tests and tools driving it over HTTP)."""
        return {ADMIN_HEADER: self.admin_token}

    def _admin_refusal(self, environ: dict[str, Any], path: str, method: str) -> tuple[int, str]:
        """(status, reason) when an admin request is refused, else (0, "")."""
        if path == "/_sandbox/health" and method == "GET":
            return 0, ""
        given = environ.get("HTTP_" + ADMIN_HEADER.upper().replace("-", "_"), "")
        if not hmac.compare_digest(given.encode(), self.admin_token.encode()):
            return 403, f"the admin API needs the sandbox's token in {ADMIN_HEADER}"
        has_body = (environ.get("CONTENT_LENGTH") or "0") not in ("", "0")
        ctype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if has_body and ctype != "application/json":
            return 415, "admin requests send JSON (Content-Type: application/json)"
        return 0, ""

    def _admin(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        status, reason = self._admin_refusal(environ, path, method)
        if status:
            return _json(start_response, status, {"error": reason})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(min(length, 1 << 20)) if length > 0 else b""
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if path == "/_sandbox/health":
                result: Any = {"ok": True, "server": self.name}
            elif path == "/_sandbox/faults" and method == "GET":
                result = dataclasses.asdict(self.config)
            elif path == "/_sandbox/faults" and method in ("PUT", "POST"):
                result = dataclasses.asdict(self.configure(FaultConfig.from_json(body)))
            elif path == "/_sandbox/requests" and method == "GET":
                result = [dataclasses.asdict(r) for r in self.request_log()]
            elif path == "/_sandbox/requests/clear" and method == "POST":
                self.clear_log()
                result = {"ok": True}
            elif path.removeprefix("/_sandbox/") in self.admin_actions and method == "POST":
                result = self.admin_actions[path.removeprefix("/_sandbox/")](body)
            else:
                return _json(start_response, 404, {"error": f"no admin route {method} {path}"})
        except (ValueError, TypeError, re.error) as exc:
            return _json(start_response, 400, {"error": str(exc)})
        return _json(start_response, 200, result)


def _drain(stream: _ThrottledInput) -> None:
    while stream.read(1 << 20):
        pass


def _json(start_response: Callable[..., Any], status: int, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
              415: "Unsupported Media Type"}.get(status, "")  # fmt: skip
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _throttled(
    start_response: Callable[..., Any], retry_after: float, client_request_id: str = ""
) -> list[bytes]:
    # Graph's error shape exactly: innerError carries date, request-id, client-request-id.
    request_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "error": {
                "code": "TooManyRequests",
                "message": "Please retry again later.",
                "innerError": {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                    "request-id": request_id,
                    "client-request-id": client_request_id or request_id,
                },
            }
        }
    ).encode()
    start_response(
        "429 Too Many Requests",
        [
            ("Content-Type", "application/json"),
            ("Retry-After", str(max(0, round(retry_after)) if retry_after >= 1 else retry_after)),
            ("request-id", request_id),
            ("client-request-id", client_request_id or request_id),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def _server_error(start_response: Callable[..., Any], status: int) -> list[bytes]:
    reason = {500: "Internal Server Error", 503: "Service Unavailable"}[status]
    body = f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
    start_response(
        f"{status} {reason}",
        [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
    )
    return [body]


class _Handler(WSGIRequestHandler):
    """Turns :class:`ResetConnection` into a real TCP reset, and keeps logs quiet."""

    #: A request line without a version is answered as HTTP/1.0, with a status line
    #: (http.server's default, HTTP/0.9, sends an error page with no status line at all).
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        # werkzeug writes a response's head and body separately; with Nagle's algorithm
        # the body waits for the client's delayed ACK (~12 ms a request on loopback).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_dropped(
        self, error: BaseException, environ: dict[str, Any] | None = None
    ) -> None:
        if isinstance(error, ResetConnection):
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            except OSError:
                pass
        self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Before the request line is parsed (414, garbage) there is no command or path.
        command = self.__dict__.get("command") or "-"
        path = str(self.__dict__.get("path") or "-")
        log.debug("%s %s %s", command, path.split("?", 1)[0], code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("http error: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def _log_server_error(request: Any, client_address: Any) -> None:
    log.error("sandbox server error handling a request from %s", client_address, exc_info=True)


@dataclass
class RunningServer:
    """A server running in a background thread."""

    name: str
    server: BaseWSGIServer
    thread: threading.Thread
    faults: FaultInjector
    scheme: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.faults.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    app: WSGIApp,
    *,
    name: str,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    faults: FaultInjector | None = None,
) -> RunningServer:
    """Run ``app`` on 127.0.0.1 in a daemon thread. Loopback only, always."""
    injector = faults or FaultInjector(app, name=name)
    server = make_server(
        "127.0.0.1",
        port,
        injector,
        threaded=True,
        request_handler=_Handler,
        ssl_context=ssl_context,
    )
    server.daemon_threads = True  # type: ignore[attr-defined]
    # socketserver prints a handler's exception to stderr and drops the connection; log it
    # instead, at ERROR, so a test that causes one fails.
    server.handle_error = _log_server_error  # type: ignore[method-assign]
    thread = threading.Thread(
        target=server.serve_forever, name=f"sandbox-{name}", kwargs={"poll_interval": 0.1}
    )
    thread.daemon = True
    thread.start()
    return RunningServer(
        name=name,
        server=server,
        thread=thread,
        faults=injector,
        scheme="https" if ssl_context else "http",
    )
