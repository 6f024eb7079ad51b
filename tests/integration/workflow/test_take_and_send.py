"""A take uploaded while recording, then sent to three people: the video goes up once.

The desktop app and ``vmsg record --upload`` + ``vmsg send`` drive the same workflow
(``TakeSession`` then ``SendSession``); the sandbox's request log and mailbox are the
judges: one upload token and one media entry for the take, one message per recipient.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from app import cli
from app.recorder.events import FileGrew, Started
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone
from app.workflow.events import LinkReady
from app.workflow.send import SendRequest, SendSession
from app.workflow.services import Services
from app.workflow.take import TakeOptions, TakeSession
from tests.helpers import wait_until
from tests.integration.workflow.conftest import kaltura_calls

RECIPIENTS = [
    "Ann Lee <ann@fabrikam.example>",
    "Bo Chen <bo@fabrikam.example>",
    "Cy Diaz <cy@fabrikam.example>",
]


def get(url: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    return s.get(url, timeout=10)


class Recorded:
    """The events a front end would show, with the moments the test waits for."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.link = threading.Event()
        self.started = threading.Event()
        self.grew = 0
        self.lock = threading.Lock()

    def __call__(self, event: object) -> None:
        with self.lock:
            self.events.append(event)
        if isinstance(event, LinkReady):
            self.link.set()
        elif isinstance(event, Started):
            self.started.set()
        elif isinstance(event, FileGrew):
            self.grew += 1

    def of(self, kind: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


@pytest.mark.parametrize("pass_entry", [True, False], ids=["take-entry", "file-only"])
def test_a_take_streamed_while_recording_is_sent_to_three_without_a_second_upload(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, pass_entry: bool
) -> None:
    seen = Recorded()
    output = tmp_path / "take.mp4"
    with Services.open(on_event=seen) as services:
        take = TakeSession(
            services,
            TakeOptions(output=output, upload=True, title="Hello there", size=(320, 240), fps=15),
            camera=SyntheticCamera(),
            microphone=SyntheticMicrophone(),
            on_event=seen,
        )
        take.start()
        assert seen.link.wait(30), "no link while recording"
        assert not take.done  # the link exists before the take stops
        link = seen.of(LinkReady)[0]
        assert get(link.landing_url).status_code == 200  # and it already works
        assert seen.started.wait(10)
        wait_until(lambda: take.recorder.elapsed >= 2.5, timeout=30)
        assert seen.grew >= 2  # the upload was fed by the recorder's fragments
        done = take.stop()
        assert done.uploaded, done.upload_error
        assert done.entry_id == link.entry_id
        request = SendRequest.build(
            done.path, to=RECIPIENTS, note="Hi!", entry_id=done.entry_id if pass_entry else ""
        )
        session = SendSession(services, request, on_event=seen)
        session.prepare()
        result = session.run()
    assert result.all_sent, [(m.recipient.email, m.state, m.reason) for m in result.messages]
    assert result.entry_id == done.entry_id and result.reused_upload
    assert len(result.messages) == 3
    # One upload token and one media entry for the take: sending did not upload again.
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1
    assert kaltura_calls(sandbox, "media", "add") == 1
    sender = sandbox.manifest["senders"][0]["email"]
    mailbox = sandbox.microsoft.graph.sent_messages(sender)
    assert len(mailbox) == 3
    to = sorted(r["message"]["toRecipients"][0]["emailAddress"]["address"] for r in mailbox)
    assert to == ["ann@fabrikam.example", "bo@fabrikam.example", "cy@fabrikam.example"]
    for message in result.messages:
        assert f"/landing/{done.entry_id}?" in message.landing_url
        assert get(message.landing_url).status_code == 200


def test_record_upload_then_send_through_the_cli_uploads_once(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    take = tmp_path / "cli-take.mp4"
    code = cli.main(
        ["record", "-o", str(take), "--camera", "synthetic", "--mic", "synthetic",
         "--seconds", "2", "--size", "320x240", "--upload", "--title", "CLI take"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.index("the link is") < err.index("stopped after")  # link before stop
    upload = json.loads(out.strip().splitlines()[-1])["upload"]
    assert upload["uploaded"] and upload["bytes"] == take.stat().st_size
    code = cli.main(["send", str(take), *(x for r in RECIPIENTS for x in ("--to", r))])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "reusing the earlier upload" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["state"] for line in lines] == ["sent"] * 3
    assert all(f"/landing/{upload['entry_id']}?" in line["landing_url"] for line in lines)
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1
    assert kaltura_calls(sandbox, "media", "add") == 1
