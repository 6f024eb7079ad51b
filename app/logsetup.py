"""Logging: a rotating file in the user log dir, with secrets redacted before they are written.

The redaction runs in a filter attached to every handler this module installs, so it
covers records from any library (MSAL logs authorization codes, PKCE verifiers and device
codes at DEBUG, and ``login_hint`` at INFO). What is redacted:

- JWTs (access and id tokens), ``Bearer`` credentials;
- Kaltura KS strings (v2 ones start with ``djJ8``, base64 of ``v2|``), and any ``ks`` value;
- values of sensitive keys in query strings, form bodies, JSON and Python reprs:
  authorization codes, code verifiers, device codes, refresh/access/id tokens, passwords,
  secrets, app tokens and their hashes, ``login_hint``, ``X-AnchorMailbox``;
- the same inside formatted tracebacks.

The ``msal`` logger sits at WARNING unless ``--verbose``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.handlers
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import paths, system

REDACTED = "«redacted»"

_SENSITIVE_KEYS = (
    "code",
    "code_verifier",
    "device_code",
    "user_code",
    "refresh_token",
    "access_token",
    "id_token",
    "client_secret",
    "assertion",
    "password",
    "passwd",
    "secret",
    "adminsecret",
    "ks",
    "token",
    "tokenhash",
    "apptoken",
    "login_hint",
    "x-anchormailbox",
    "x-client-sku-token",
    "authorization",
    "otp",
)
_KEYS = "|".join(sorted((re.escape(k) for k in _SENSITIVE_KEYS), key=len, reverse=True))

# Error codes such as "ENTRY_ID_NOT_FOUND" (Kaltura) or "ErrorAccessDenied" (Graph) are not
# secrets; a "code" value of that shape stays readable. Case-sensitive on purpose: an
# OAuth code or device code is long mixed-case base64 and never has this shape.
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{2,63}|[A-Z][a-zA-Z]{2,47}")


def _quoted(match: re.Match[str]) -> str:
    quote_key, key, sep, quote_value, value = match.groups()
    if key.lower() == "code" and _ERROR_CODE.fullmatch(value):
        return match.group(0)
    return f"{quote_key}{key}{quote_key}{sep}{quote_value}{REDACTED}{quote_value}"


_Replacement = str | Callable[[re.Match[str]], str]


@functools.cache
def _patterns() -> list[tuple[re.Pattern[str], _Replacement]]:
    """Compiled on first use: the desktop app paints its window before it logs."""
    return [
        # JWT: three base64url parts, the first a JSON header ("eyJ" = base64 of '{"').
        (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
        # Authorization headers.
        (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
        # Kaltura KS v2 (base64 of "v2|...", URL-safe alphabet).
        (re.compile(r"djJ8[A-Za-z0-9_\-+/=]{8,}"), REDACTED),
        # Kaltura also takes parameters as path segments: /ks/<KS>/.
        (re.compile(r"(?i)(/ks/)[^/?#\s]+"), rf"\1{REDACTED}"),
        # key=value in query strings and form bodies.
        (
            re.compile(rf"(?i)(?<![A-Za-z0-9_])({_KEYS})=([^&\s'\",;)}}\]]+)"),
            rf"\1={REDACTED}",
        ),
        # "key": "value" (JSON) and 'key': 'value' (Python reprs).
        (
            re.compile(rf"(?i)([\"']?)({_KEYS})\1(\s*[:=]\s*)([\"'])((?:(?!\4).)*)\4"),
            _quoted,
        ),
        # key: value in headers.
        (
            re.compile(rf"(?im)^(\s*)({_KEYS})(:\s*)(\S.*)$"),
            rf"\1\2\3{REDACTED}",
        ),
    ]


def redact(text: str) -> str:
    """Remove secrets from one log line (or any text)."""
    for pattern, repl in _patterns():
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a library's bad format string: keep what we have
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log holds recipients, notes and links: owner-only, also after each rotation."""

    def _open(self) -> Any:
        stream = super()._open()
        system.private_file(Path(self.baseFilename))
        return stream


_installed: list[logging.Handler] = []


def shutdown() -> None:
    """Remove and close the handlers :func:`setup` installed."""
    for handler in _installed:
        logging.getLogger().removeHandler(handler)
        handler.close()
    _installed.clear()


KEEP_LOGS = 20


def prune_logs(folder: Path, keep: int = KEEP_LOGS) -> list[Path]:
    """Remove the logs of all but the ``keep`` newest processes (with their rotated
    parts), never one whose process still runs. Returns what was removed."""
    groups: dict[str, list[Path]] = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        base, _, _part = path.name.partition(".log")
        if base.startswith(paths.LOG_PREFIX) and path.is_file():
            groups.setdefault(base, []).append(path)

    def newest(files: list[Path]) -> float:
        times = []
        for p in files:
            with contextlib.suppress(OSError):
                times.append(p.stat().st_mtime)
        return max(times, default=0.0)

    removed: list[Path] = []
    for base in sorted(groups, key=lambda b: newest(groups[b]), reverse=True)[keep:]:
        pid = base.rpartition("-")[2]
        if pid.isdigit() and system.process_alive(int(pid)):
            continue
        for path in groups[base]:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def setup(*, verbose: bool = False, log_file: Path | None = None, console: bool = False) -> Path:
    """Install this process's rotating log file (and optionally stderr); the oldest
    processes' logs are pruned. Returns the log path."""
    shutdown()
    own = log_file is None
    log_file = log_file or paths.log_path()
    paths.private_app_dir(log_file.parent)
    if own:
        prune_logs(log_file.parent)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    file_handler = PrivateRotatingFileHandler(
        log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    handlers: list[logging.Handler] = [file_handler]
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.DEBUG if verbose else logging.WARNING)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        # The crash handler prints its own short message; the traceback goes to the file.
        stream.addFilter(lambda record: record.name != "app.crash")
        handlers.append(stream)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        _installed.append(handler)
    # MSAL logs personal data at INFO and secrets at DEBUG (docs/protocols.md, "Identity:
    # MSAL Python behaviour we depend on"); keep it quiet.
    logging.getLogger("msal").setLevel(logging.DEBUG if verbose else logging.WARNING)
    for noisy in ("urllib3", "werkzeug", "PIL"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    return log_file
