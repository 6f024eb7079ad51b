"""A scripted requests transport for unit tests of the Graph client's own logic.

Like httpx's ``MockTransport``: the test gives a handler ``(PreparedRequest) -> Reply``
and the client under test talks through it, so retry, backoff, paging and error mapping
can be driven exactly. Integration tests use the real sandbox Graph server instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

BASE = "https://graph.test/v1.0"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[requests.PreparedRequest], Reply]


class ScriptedAdapter(BaseAdapter):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.requests.append(request)
        reply = self.handler(request)
        resp = requests.Response()
        resp.status_code = reply.status
        resp.headers = CaseInsensitiveDict(reply.headers)
        if reply.body is None:
            resp._content = b""
        elif isinstance(reply.body, bytes):
            resp._content = reply.body
        else:
            resp._content = json.dumps(reply.body).encode()
            resp.headers.setdefault("Content-Type", "application/json")
        resp.url = request.url or ""
        resp.request = request
        resp.encoding = "utf-8"
        return resp

    def close(self) -> None:
        pass


def scripted_session(handler: Handler) -> tuple[requests.Session, ScriptedAdapter]:
    session = requests.Session()
    adapter = ScriptedAdapter(handler)
    # More specific than the client's own "https://" mount, so requests picks this one.
    session.mount("https://graph.test/", adapter)
    return session, adapter


class Tokens:
    """A token provider recording what the client asked of it."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.claims: list[str] = []
        self.n = 0

    def access_token(self, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if force_refresh or not self.n:
            self.n += 1
        return f"token-{self.n}"

    def handle_claims_challenge(self, claims: str) -> None:
        self.claims.append(claims)
        self.n += 1


def graph_error(code: str, message: str = "m") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {}}}
