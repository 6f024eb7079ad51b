"""``vmsg send`` and ``vmsg demo`` end to end, against the real (embedded) sandbox."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app import cli
from app.mail.message import parse_address
from tests.fixtures.sandbox_kaltura import write_mp4


@pytest.fixture
def sandbox_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The Sandbox profile with its own sandbox dir, which each command starts and stops
    itself; sign-ins cached in a 0600 file (this machine has no Secret Service)."""
    monkeypatch.setenv("VMSG_SANDBOX_DIR", str(tmp_path / "sandbox"))
    from app import paths

    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps({"schema_version": 2, "allow_plaintext_token_cache": True})
    )
    yield tmp_path / "sandbox"
    # Every command stopped the sandbox it started: nothing is left serving.
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, lines, err


@pytest.fixture
def plaintext_cache() -> None:
    """Sign-ins cached in a 0600 file (this machine may have no Secret Service)."""
    from app import paths

    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps({"schema_version": 2, "allow_plaintext_token_cache": True})
    )


def get(url: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    return s.get(url, timeout=10)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "not an address"], "not an email address"),
        (["--to", "a@example.com\r\nBcc: x@example.com"], "line break"),
        (
            ["--to", "a@example.com", "--cta-label", "Go", "--cta-url", "javascript:alert(1)"],
            "only",
        ),
        (["--to", "a@example.com", "--cta-label", "Go", "--cta-url", "data:text/html,x"], "only"),
        (["--to", "a@example.com", "--cta-label", "Go"], "needs both a label and a link"),
        (["--to", "a@example.com", "--template", "no-such"], "no template named"),
        (["--to", "a@example.com", "--template", "../../etc"], "not a template name"),
        ([], "nobody to send to"),
    ],
)
def test_bad_input_is_refused_before_anything_happens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    video = write_mp4(tmp_path / "v.mp4", seconds=0.5)
    code, lines, err = run(["send", str(video), *argv], capsys)
    assert code == 1 and lines == []
    assert message in err
    assert not (tmp_path / "sandbox").exists()  # no server was started, nothing uploaded


def test_send_to_the_sandbox(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_mp4(tmp_path / "hello.mp4", seconds=1.0)
    argv = ["send", str(video), "--preview-text", "Hi\r\nthere", "--to",
            "Ann Lee <ann@fabrikam.example>", "--to",
            "bo@fabrikam.example", "--cc", "boss@contoso.example", "--template",
            "sales-follow-up", "--cta-label", "Book a call", "--cta-url",
            "https://cal.example.com/x", "--note", "Hello!", "--subject",
            "For {{ recipient.first_name or 'you' }}"]  # fmt: skip
    code, lines, err = run(argv, capsys)
    assert code == 0, err
    assert [line["address"] for line in lines] == ["ann@fabrikam.example", "bo@fabrikam.example"]
    assert all(line["state"] == "sent" and line["message_id"] for line in lines)
    for line in lines:
        assert get(line["landing_url"]).status_code == 200
    # The same file again: the upload is reused.
    code, lines2, err = run(["send", str(video), "--to", "cy@fabrikam.example"], capsys)
    assert code == 0 and "reusing the earlier upload" in err
    entry = lines[0]["landing_url"].split("/landing/")[1].split("?")[0]
    assert f"/landing/{entry}?" in lines2[0]["landing_url"]


def test_demo_sends_three_emails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(
        ["demo", "--dir", str(tmp_path / "demo"), "--no-wait", "--seconds", "2"], capsys
    )
    assert code == 0, err
    per_recipient, summary = lines[:3], lines[3]
    assert all(line["state"] == "sent" for line in per_recipient)
    assert summary["sent"] == 3 and len(summary["emails"]) == 3
    for page in summary["emails"]:
        html = Path(page).read_text(encoding="utf-8")
        assert "Hi " in html and "data:image/gif;base64," in html
    assert "landing pages" in err


def test_hosted_preview_images_use_the_kaltura_thumbnail(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import paths

    paths.settings_path().write_text(
        json.dumps(
            {
                "schema_version": 2,
                "allow_plaintext_token_cache": True,
                "profiles": {"Sandbox": {"kind": "sandbox",
                                         "kaltura": {"hosted_preview_images": True}}},
            }
        )
    )  # fmt: skip
    video = write_mp4(tmp_path / "hosted.mp4", seconds=1.0)
    code, _lines, err = run(["send", str(video), "--to", "ann@fabrikam.example"], capsys)
    assert code == 0, err
    sent = sorted((sandbox.data_dir / "mailboxes").glob("*/sent/*.json"))
    record = json.loads(sent[-1].read_text(encoding="utf-8"))
    message = record["message"]
    assert not message.get("attachments")
    html = message["body"]["content"]
    m = re.search(r'<img src="([^"]+/thumbnail/entry_id/[^"]+)"[^>]*alt="Play video message"', html)
    assert m, html[:2000]
    assert 'height="360"' in html  # 480 wide at the video's 4:3
    deadline = time.monotonic() + 20
    while (status := get(m.group(1).replace("&amp;", "&")).status_code) != 200:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_failed_upload_leaves_nothing_waiting(tmp_path: Path, composition: Any) -> None:
    from app.errors import KalturaError
    from app.mail.outbox import Outbox
    from app.mail.transports.smtp import SmtpTransport
    from app.workflow.send import send_job

    def upload() -> str:
        raise KalturaError("the upload failed")

    with Outbox(tmp_path / "o.db") as box:
        with pytest.raises(KalturaError):
            send_job(
                box, composition, [parse_address("a@example.com")],
                transport=SmtpTransport("127.0.0.1", 1, security="none"),
                link_for=lambda e, t, n: "https://v.example/x", upload=upload, exactly_once=False,
            )  # fmt: skip
        assert {m.state for m in box.messages()} == {"cancelled"}
        assert not box.pending()


def test_unknown_message_then_resend_or_mark_sent(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_mp4(tmp_path / "u.mp4", seconds=0.5)
    code, lines, err = run(["send", str(video), "--to", "warmup@fabrikam.example"], capsys)
    assert code == 0, err
    faults = sandbox.microsoft.graph_server.faults
    faults.configure(failure_rate=1.0, failure_modes=["lost_response"], match=r"/\$batch$")
    code, lines, err = run(
        ["send", str(video), "--to", "a@fabrikam.example", "--to", "b@fabrikam.example"], capsys
    )
    faults.reset()
    assert code == 1
    assert [line["state"] for line in lines] == ["unknown", "unknown"]
    assert all("Check your Sent Items" in line["hint"] for line in lines)
    assert "check Sent Items" in err and "vmsg outbox --resend" in err
    code, listed, _ = run(["outbox"], capsys)
    assert {row["address"]: row["state"] for row in listed} == {
        "a@fabrikam.example": "unknown",
        "b@fabrikam.example": "unknown",
    }
    ids = {row["address"]: row["id"] for row in listed}
    code, after, err = run(["outbox", "--mark-sent", ids["a@fabrikam.example"]], capsys)
    assert code == 0 and "marked as sent" in err
    assert [row["address"] for row in after] == ["b@fabrikam.example"]
    code, after, err = run(["outbox", "--resend", ids["b@fabrikam.example"]], capsys)
    assert code == 0 and after == [], err
    code, everything, _ = run(["outbox", "--all"], capsys)
    states = {row["address"]: row["state"] for row in everything}
    assert states["a@fabrikam.example"] == "sent" and states["b@fabrikam.example"] == "sent"


def test_a_send_starts_the_sandbox_it_needs_and_stops_it(
    sandbox_profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_mp4(tmp_path / "own.mp4", seconds=0.5)
    code, lines, err = run(["send", str(video), "--to", "ann@fabrikam.example"], capsys)
    assert code == 0, err
    assert [line["state"] for line in lines] == ["sent"]
    # Its data stays for the next command; its servers and sandbox.json are gone.
    assert list((sandbox_profile / "mailboxes").glob("*/sent/*.json"))
    assert not (sandbox_profile / "sandbox.json").exists()
