"""The Kaltura API v3 wire layer: one POST per call, JSON in and out, typed errors.

What it guarantees (docs/protocols.md, "Kaltura: request encoding", "Kaltura: responses and
errors" and "Kaltura: the official Python client"):

- Requests go to ``{service_url}/api_v3/service/{service}/action/{action}`` with a JSON body
  and ``Content-Type: application/json`` exactly: Kaltura compares the header as a plain
  string, so a ``; charset=`` suffix would make it ignore the body. ``format=1`` asks for
  JSON answers.
- Uploads are ``multipart/form-data`` with the parameters in a ``json`` field and the bytes
  in ``fileData``, as Kaltura's own clients send them. The body is built here, with an exact
  Content-Length, so the bytes sent can be counted and nothing is re-encoded.
- A Kaltura refusal (HTTP 200 + ``KalturaAPIException``, in JSON or XML) is raised as
  :class:`KalturaAPIError` with code, message and args. 5xx, 429, timeouts and dropped
  connections are :class:`KalturaNetworkError` (retryable, callers decide). Anything else that
  is not a Kaltura answer is :class:`KalturaResponseError`. Never a raw ``KeyError``.
- TLS 1.2 or better, certificate verification always on (an optional extra CA file for
  private deployments), and ``http://`` only for loopback hosts (the sandbox).
- No redirects are followed: a POST with a KS must not be replayed to another host.
- Timeouts are per call: a final upload chunk may wait up to 45 s on the server for parked
  chunks, unlike the official client's fixed 10 s.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from app import __version__, net
from app.kaltura.errors import (
    KalturaAPIError,
    KalturaConfigError,
    KalturaNetworkError,
    KalturaResponseError,
    normalize_args,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "KalturaAPIError",
    "KalturaClient",
    "KalturaNetworkError",
    "KalturaResponseError",
    "TransferStats",
    "is_loopback_url",
]

is_loopback_host = net.is_loopback_host
is_loopback_url = net.is_loopback_url

log = logging.getLogger(__name__)

#: (connect, read) seconds for ordinary calls.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)
USER_AGENT = f"VideoMessaging/{__version__} python-requests/{requests.__version__}"
CLIENT_TAG = f"vmsg-{__version__}"


@dataclass
class TransferStats:
    """What this client put on the wire (for progress, tests and benchmarks)."""

    requests: int = 0
    upload_requests: int = 0
    #: File bytes handed to the network in upload requests, including failed attempts.
    payload_bytes_sent: int = 0


class KalturaClient:
    """Calls Kaltura API v3 actions. Thread-safe: uploads run calls from worker threads.

    ``session`` may be given (tests, shared pools); it gets the TLS adapter mounted either
    way. ``ca_file`` adds a CA (a private Kaltura, the sandbox over HTTPS).
    """

    def __init__(
        self,
        service_url: str,
        *,
        partner_id: int,
        session: requests.Session | None = None,
        ca_file: Path | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_size: int = 8,
    ) -> None:
        parts = urlsplit(service_url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise KalturaConfigError(
                f'"{service_url}" is not a Kaltura service URL.',
                hint="Use the address of your Kaltura service, e.g. https://www.kaltura.com.",
            )
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise KalturaConfigError(
                f"Refusing to send Kaltura credentials over plain http to {parts.hostname}.",
                hint="Use an https:// service URL (plain http is only allowed for the "
                "built-in sandbox on this computer).",
            )
        if int(partner_id) <= 0:
            raise KalturaConfigError(
                f"The Kaltura partner id {partner_id!r} is not valid.",
                hint="Set the partner id of your Kaltura account (a positive number) in the "
                "profile.",
            )
        self.service_url = service_url.strip().rstrip("/")
        self.partner_id = int(partner_id)
        self.is_loopback = is_loopback_host(parts.hostname)
        self.timeout = timeout
        self.stats = TransferStats()
        self._stats_lock = threading.Lock()
        self.ca_file = ca_file
        # The shared TLS rules (app.net); a given session gets them mounted too.
        self.http = net.mount(session or requests.Session(), pool_size=pool_size)
        net.trust(self.http, ca_file)
        self.http.headers["User-Agent"] = USER_AGENT

    # ------------------------------------------------------------------ public API

    def url(self, service: str, action: str) -> str:
        return f"{self.service_url}/api_v3/service/{service}/action/{action}"

    def call(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        ks: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Run one action and return its JSON result (a dict, list, str, number or None)."""
        body = self._envelope(params, ks)
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        resp = self._post(self.url(service, action), data, headers, timeout, service, action)
        return self._parse(resp, service, action)

    def upload(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any],
        data: bytes | memoryview,
        *,
        filename: str = "video.mp4",
        ks: str | None = None,
        timeout: tuple[float, float] | None = None,
        file_field: str = "fileData",
    ) -> Any:
        """Run an action that takes a file (``uploadToken.upload``) as multipart."""
        body_json = json.dumps(self._envelope(params, ks), separators=(",", ":"))
        boundary = "vmsg" + secrets.token_hex(16)
        safe_name = re.sub(r'["\r\n\\]', "_", filename) or "video.mp4"
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="json"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{body_json}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{file_field}"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        payload = b"".join((head, data, tail))
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Accept": "application/json",
        }
        with self._stats_lock:
            self.stats.upload_requests += 1
            self.stats.payload_bytes_sent += len(data)
        resp = self._post(self.url(service, action), payload, headers, timeout, service, action)
        return self._parse(resp, service, action)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ internals

    def _envelope(self, params: Mapping[str, Any] | None, ks: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        body["format"] = 1
        body.setdefault("partnerId", self.partner_id)
        body["clientTag"] = CLIENT_TAG
        if ks:
            body["ks"] = ks
        return body

    def _post(  # noqa: PLR0917 - private helper, called in two places
        self,
        url: str,
        data: bytes,
        headers: dict[str, str],
        timeout: tuple[float, float] | None,
        service: str,
        action: str,
    ) -> requests.Response:
        with self._stats_lock:
            self.stats.requests += 1
        what = f"{service}.{action}"
        try:
            resp = self.http.post(
                url,
                data=data,
                headers=headers,
                timeout=timeout or self.timeout,
                allow_redirects=False,
            )
            # Read the body now so a connection dropped mid-answer is a network error here.
            _ = resp.content
        except requests.exceptions.SSLError as exc:
            raise KalturaConfigError(
                "The Kaltura server's certificate could not be verified, or it does not "
                "speak TLS 1.2 or newer.",
                hint="Check the service URL; in a private deployment add its CA file.",
                details=str(exc),
            ) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise KalturaNetworkError(
                f"Kaltura did not accept a connection in time ({what}).",
                maybe_processed=False,
                details=str(exc),
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise KalturaNetworkError(
                f"Kaltura did not answer in time ({what}).", details=str(exc)
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            text = str(exc)
            never_sent = "NewConnectionError" in text or "Failed to establish" in text
            raise KalturaNetworkError(
                f"The connection to Kaltura failed ({what}).",
                maybe_processed=not never_sent,
                details=text,
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise KalturaNetworkError(
                f"The request to Kaltura failed ({what}).", details=str(exc)
            ) from exc
        return resp

    def _parse(self, resp: requests.Response, service: str, action: str) -> Any:
        status = resp.status_code
        body = resp.content
        if status >= 500 or status == 429:
            retry_after: float | None = None
            try:
                retry_after = float(resp.headers.get("Retry-After", ""))
            except ValueError:
                retry_after = None
            raise KalturaNetworkError(
                f"Kaltura answered HTTP {status} to {service}.{action}.",
                status=status,
                retry_after=retry_after,
                details=body[:300].decode("utf-8", "replace"),
            )
        if status != 200:
            raise KalturaResponseError(
                f"Kaltura answered HTTP {status} to {service}.{action}, which is not an API "
                "answer.",
                status=status,
                body=body,
            )
        text = body.decode("utf-8", "replace").lstrip("\ufeff").strip()
        if text.startswith("<"):
            return _raise_from_xml(text, body, service, action)
        try:
            result = json.loads(text) if text else None
        except ValueError:
            raise KalturaResponseError(
                f"Kaltura's answer to {service}.{action} is not JSON.", status=status, body=body
            ) from None
        if isinstance(result, dict):
            obj_type = result.get("objectType")
            if isinstance(obj_type, str) and obj_type.endswith("Exception"):
                raise KalturaAPIError(
                    str(result.get("code") or "UNKNOWN_ERROR"),
                    str(result.get("message") or ""),
                    normalize_args(result.get("args")),
                    service=service,
                    action=action,
                )
        return result


def _raise_from_xml(text: str, body: bytes, service: str, action: str) -> Any:
    """An XML answer (format ignored by a proxy or an old server): errors become typed."""
    err = re.search(r"<error>(.*?)</error>", text, re.S)
    if err:
        code = re.search(r"<code>(.*?)</code>", err.group(1), re.S)
        msg = re.search(r"<message>(.*?)</message>", err.group(1), re.S)
        args = dict(re.findall(r"<name>(.*?)</name>\s*<value>(.*?)</value>", err.group(1), re.S))
        raise KalturaAPIError(
            code.group(1).strip() if code else "UNKNOWN_ERROR",
            msg.group(1).strip() if msg else "",
            args,
            service=service,
            action=action,
        )
    raise KalturaResponseError(
        f"Kaltura's answer to {service}.{action} is XML or HTML, not JSON.",
        status=200,
        body=body,
    )
