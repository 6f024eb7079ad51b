"""Fixtures for the mail integration tests: the real Microsoft and Kaltura sandboxes.

``mail_env`` uses the Graph + identity sandbox (``ms_sandbox``: HTTPS, port 0), runs the
Kaltura sandbox (port 0) on a fresh data dir, signs a seeded sender in with the
device-code grant (the identity sandbox approves it at once), creates a Kaltura entry for
the video, and builds Graph clients, transports and landing links as the app does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.endpoints import KalturaEndpoint
from app.kaltura.links import landing_url
from app.mail.message import Sender
from app.microsoft.graph import GraphClient
from app.sandbox.microsoft import MicrosoftSandbox
from app.sandbox.testing import DeviceCodeToken
from tests.fixtures.sandbox_kaltura import KalturaServer, start_kaltura_server
from tests.unit.mail.conftest import composition, gif, sender  # noqa: F401 - pytest fixtures

MAIL_SCOPES = "User.Read Mail.Send offline_access"
EXACTLY_ONCE_SCOPES = MAIL_SCOPES + " Mail.ReadWrite"


@dataclass
class MailEnv:
    ms: MicrosoftSandbox
    kaltura: KalturaServer
    entry_id: str
    endpoint: KalturaEndpoint

    @property
    def sender_email(self) -> str:
        return self.ms.senders[0]["email"]

    @property
    def sender_name(self) -> str:
        return self.ms.senders[0]["name"]

    def sender(self, signature: str = "<p>Regards,<br><b>Adele</b></p>") -> Sender:
        return Sender(email=self.sender_email, name=self.sender_name, signature_html=signature)

    def graph(self, *, exactly_once: bool = False, **kw: Any) -> GraphClient:
        scopes = EXACTLY_ONCE_SCOPES if exactly_once else MAIL_SCOPES
        kw.setdefault("backoff_base", 0.05)
        kw.setdefault("backoff_cap", 0.5)
        return GraphClient(
            self.ms.graph_url, DeviceCodeToken(self.ms, scopes), ca_file=str(self.ms.ca_file), **kw
        )

    def link(self, entry_id: str, token: str, name: str) -> str:
        return landing_url(self.endpoint, entry_id, recipient_token=token, recipient_name=name)

    def mailbox(self) -> list[dict[str, Any]]:
        return self.ms.graph.sent_messages(self.sender_email)

    def graph_requests(self, path_regex: str = "") -> list[Any]:
        return self.ms.graph_server.faults.request_log(path_regex)


@pytest.fixture
def mail_env(ms_sandbox: MicrosoftSandbox, tmp_path: Path) -> Iterator[MailEnv]:
    ms = ms_sandbox  # started and stopped by its owner's fixture
    kaltura = start_kaltura_server(tmp_path / "kaltura")
    try:
        ks = kaltura.user_ks(ms.senders[0]["email"])
        entry = kaltura.call(
            "media",
            "add",
            {
                "entry": {
                    "objectType": "KalturaMediaEntry",
                    "name": "Quarterly review",
                    "mediaType": 1,
                }
            },
            ks=ks,
        )
        endpoint = KalturaEndpoint(service_url=kaltura.url, partner_id=kaltura.partner_id)
        yield MailEnv(ms, kaltura, str(entry["id"]), endpoint)
    finally:
        kaltura.stop()


def get(url: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    return s.get(url, timeout=10)
