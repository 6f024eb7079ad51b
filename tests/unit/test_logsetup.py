"""Log redaction: secrets never reach the log file, whichever library logged them."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from app import logsetup

AUTH_CODE = "0.AXoA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvWxYz-authcode_Secret123"


def _jwt(claims: dict[str, object]) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLXNlY3JldA"


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = logsetup.setup(verbose=True, log_file=tmp_path / "vmsg.log")
    yield path
    for handler in logging.getLogger().handlers:
        handler.flush()


def _read(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_msal_logger_is_quiet_unless_verbose(tmp_path: Path) -> None:
    logsetup.setup(verbose=False, log_file=tmp_path / "quiet.log")
    assert logging.getLogger("msal").getEffectiveLevel() == logging.WARNING
    logsetup.setup(verbose=True, log_file=tmp_path / "loud.log")
    assert logging.getLogger("msal").getEffectiveLevel() == logging.DEBUG


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (
            "POST /token grant_type=authorization_code&code=ABCDEF123456&code_verifier=vErIfIeR99",
            "vErIfIeR99",
        ),
        (
            "POST /token grant_type=authorization_code&code=ABCDEF123456&code_verifier=x",
            "ABCDEF123456",
        ),
        ("{'device_code': 'DEV-CODE-777', 'user_code': 'ABCD-EFGH'}", "DEV-CODE-777"),
        ('{"refresh_token": "0.ARrefresh.secret", "token_type": "Bearer"}', "0.ARrefresh.secret"),
        ("Authorization: Bearer eyJhbGciOi.abc.def-token", "eyJhbGciOi.abc.def-token"),
        (
            "GET /authorize?client_id=x&login_hint=zoe%40contoso.example&state=1",
            "zoe%40contoso.example",
        ),
        ("headers {'X-AnchorMailbox': 'UPN:zoe@contoso.example'}", "UPN:zoe@contoso.example"),
        (
            "ks=djJ8MTAwfKb3x9Yl8mZmYmVhMzQ1Njc4OTA= service=media",
            "djJ8MTAwfKb3x9Yl8mZmYmVhMzQ1Njc4OTA=",
        ),
        (
            '{"ks": "MGQ2ZjM3ZDk1NjI1ZWVmOHxsZWdhY3kta3M=", "format": 1}',
            "MGQ2ZjM3ZDk1NjI1ZWVmOHxsZWdhY3kta3M=",
        ),
        ("login password=hunter2! partnerId=100", "hunter2!"),
        (
            "POST /api_v3/service/media/action/list/ks/MGQ2ZjM3ZDk1NjI1ZWVmOHxsZWdhY3k=/format/1",
            "MGQ2ZjM3ZDk1NjI1ZWVmOHxsZWdhY3k=",
        ),
        ('{"secret": "adm1n-secret", "type": 2}', "adm1n-secret"),
        (
            "appToken.startSession tokenHash=9f86d081884c7d659a2feaa0c55ad015",
            "9f86d081884c7d659a2feaa0c55ad015",
        ),
    ],
)
def test_redact_patterns(line: str, secret: str) -> None:
    out = logsetup.redact(line)
    assert secret not in out
    assert logsetup.REDACTED in out


def test_error_codes_stay_readable() -> None:
    line = '{"code":"ENTRY_ID_NOT_FOUND","message":"Entry id \\"0_x\\" not found"}'
    assert logsetup.redact(line) == line
    graph = '{"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}'
    assert logsetup.redact(graph) == graph


def test_a_code_that_looks_like_an_identifier_is_still_redacted() -> None:
    """MSAL's token-cache event logs the device code under "code"; without a '-' in it,
    a random base64url code is all [A-Za-z0-9_] and must not pass for an error code."""
    device_code = "DAQABAAEAAAHx6WC2_ipOnMZSXOP2iRp0WICA1INZhwBZ9vu4hIvcp8SpJD_Ad8FrxOukBBCdGVIF"
    line = json.dumps({"data": {"code": device_code, "device_code": device_code}}, indent=4)
    out = logsetup.redact(line)
    assert device_code not in out
    assert out.count(logsetup.REDACTED) == 2
    # The same next to a real error code in one record: each value judged on its own.
    mixed = f'{{"code": "{device_code}", "error": {{"code": "INVALID_KS"}}}}'
    out = logsetup.redact(mixed)
    assert device_code not in out and '"code": "INVALID_KS"' in out


def test_tracebacks_are_redacted_too(
    log_file: Path, allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^request failed$")
    token = _jwt({"scp": "Mail.Send"})
    try:
        raise RuntimeError(f"Graph said no to {token}")
    except RuntimeError:
        logging.getLogger("app.test").exception("request failed")
    text = _read(log_file)
    assert "RuntimeError" in text and token not in text


def test_bad_format_strings_from_libraries_do_not_break_logging(log_file: Path) -> None:
    logging.getLogger("somelib").warning("%d widgets", "not-a-number")
    assert "widgets" in _read(log_file)


def test_each_process_logs_to_its_own_file_and_old_ones_are_pruned(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "log"
    folder.mkdir()
    made = []
    for i in range(25):
        name = f"vmsg-20260101-0000{i:02d}-{dead.pid}{i:02d}.log"
        made.append(folder / name)
        (folder / name).write_text("x")
        os.utime(folder / name, (1_000_000 + i, 1_000_000 + i))
    (folder / (made[0].name + ".1")).write_text("rotated part of the oldest")
    os.utime(folder / (made[0].name + ".1"), (999_999, 999_999))
    running = folder / f"vmsg-20250101-000000-{os.getpid()}.log"  # oldest, but alive
    running.write_text("mine")
    os.utime(running, (1, 1))
    other = folder / "notes.txt"
    other.write_text("not a log of ours")
    removed = logsetup.prune_logs(folder, keep=20)
    left = {p.name for p in folder.iterdir()}
    assert {p.name for p in made[5:]} <= left  # the 20 newest
    assert not {p.name for p in made[:5]} & left and made[0].name + ".1" not in left
    assert running.name in left and other.name in left
    assert len(removed) == 6


def test_setup_uses_this_processs_own_file() -> None:
    from app import paths

    path = logsetup.setup()
    logging.getLogger("app.test").info("hello")
    assert path == paths.log_path() and "hello" in path.read_text(encoding="utf-8")
