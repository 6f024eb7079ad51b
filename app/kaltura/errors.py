"""The Kaltura part of the exception tree (all under :class:`app.errors.AppError`).

::

    KalturaError (app.errors)
    ├── KalturaAPIError          the service answered with a KalturaAPIException (code, args)
    ├── KalturaResponseError     the answer was not a Kaltura answer (HTML, garbage, 4xx)
    ├── KalturaSettingsError     a profile setting is wrong (which one: ``.setting``)
    ├── KalturaConfigError       the client was asked for something unsafe (http://, no TLS)
    └── UploadError              an upload cannot continue (file changed, token gone)
        └── UploadCancelled      the user cancelled
    NetworkError (app.errors)
    └── KalturaNetworkError      unreachable, timed out, 5xx, connection lost: retryable
"""

from __future__ import annotations

from typing import Any

from app.errors import Action, KalturaError, NetworkError


class KalturaAPIError(KalturaError):
    """Kaltura refused a call: HTTP 200 with ``objectType: KalturaAPIException``.

    ``code`` is Kaltura's symbolic code (``ENTRY_ID_NOT_FOUND``), ``server_message`` its
    text, ``args`` its arguments as a ``{name: value}`` dict of strings.
    """

    def __init__(
        self,
        code: str,
        server_message: str,
        args: dict[str, str] | None = None,
        *,
        service: str = "",
        action: str = "",
        hint: str = "",
    ) -> None:
        where = f"{service}.{action}" if service else "a request"
        super().__init__(
            f"Kaltura refused {where}: {server_message or code}",
            hint=hint or "If this keeps happening, send the log to your administrator.",
            details=f"code={code} args={args or {}}",
        )
        self.code = code
        self.server_message = server_message
        self.args_dict: dict[str, str] = dict(args or {})
        self.service = service
        #: The API action that was refused (``AppError.action`` is the user's next step).
        self.api_action = action

    # ``args`` is taken by BaseException (the constructor arguments); expose Kaltura's
    # arguments under a name that cannot be confused with it.
    @property
    def kaltura_args(self) -> dict[str, str]:
        return self.args_dict

    def is_invalid_ks(self) -> bool:
        return self.code in ("INVALID_KS", "EXPIRED_KS", "KS_EXPIRED", "MISSING_KS")


class KalturaResponseError(KalturaError):
    """The server's answer was not something Kaltura sends (not JSON, wrong shape, 4xx)."""

    def __init__(self, message: str, *, status: int = 0, body: bytes = b"") -> None:
        super().__init__(
            message,
            hint="Check the Kaltura service URL in the profile; it may point to another site.",
            details=f"HTTP {status}: {body[:300]!r}",
        )
        self.status = status


class KalturaSettingsError(KalturaError):
    """A profile setting is wrong; ``setting`` names it (``partner_id``, ``app_token`` ...)."""

    default_action = Action.OPEN_SETTINGS

    def __init__(self, setting: str, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message, hint=hint, details=details, setting=setting)


class KalturaConfigError(KalturaError):
    """The client was configured in a way that would be unsafe (plain http, no verification)."""

    default_action = Action.OPEN_SETTINGS


class KalturaNetworkError(NetworkError):
    """The request did not get a usable answer: worth retrying.

    ``maybe_processed`` is True when the request body reached the server, so the server may
    have acted on it (a lost response); ``status`` is the HTTP status for 5xx/429, else 0.
    """

    def __init__(
        self,
        message: str,
        *,
        maybe_processed: bool = True,
        status: int = 0,
        retry_after: float | None = None,
        details: str = "",
    ) -> None:
        super().__init__(
            message,
            hint="Check the network connection; the app retries on its own.",
            details=details,
        )
        self.maybe_processed = maybe_processed
        self.status = status
        self.retry_after = retry_after


class UploadError(KalturaError):
    """An upload cannot continue: the local file changed, or the server lost the upload."""


class UploadCancelled(UploadError):
    """The user cancelled the upload."""


class UploadSuspended(UploadError):
    """The upload was put aside (the app is closing); it resumes from where it stopped."""


def normalize_args(raw: Any) -> dict[str, str]:
    """Kaltura's exception ``args`` in any of its shapes as ``{name: value}``.

    JSON gives a dict, or ``[]`` when empty; XML-derived or proxied answers give a list of
    ``{"name":..,"value":..}`` items. Anything else is kept under ``"_"`` as text.
    """
    if raw is None or raw in ([], {}):
        return {}
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        out: dict[str, str] = {}
        for i, item in enumerate(raw):
            if isinstance(item, dict) and "name" in item:
                out[str(item["name"])] = str(item.get("value", ""))
            else:
                out[str(i)] = str(item)
        return out
    return {"_": str(raw)}
