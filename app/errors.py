"""The one exception tree of the application.

Every error a user can meet is an :class:`AppError` carrying a message written for that
user: what failed, why, and what they can do. Subclasses group errors by area so callers
can catch what they handle. Unexpected exceptions are not wrapped; they reach the crash
handler (``app.crash``), which logs them and, in the GUI, shows a dialog.

::

    AppError
    ├── SettingsError           settings could not be read or saved
    ├── PolicyError             the administrator's policy file is invalid or forbids this
    │   └── PolicyLockedError   a setting is locked by the policy
    ├── DeviceError             camera or microphone problems
    ├── RecordingError          the recorder could not start or continue
    ├── NetworkError            a server could not be reached (retryable)
    ├── KalturaError            the Kaltura service refused a request
    ├── MicrosoftError          sign-in or Graph problems
    │   └── SignInRequired      no usable account: the user must sign in
    ├── MailError               templates, rendering, sending
    ├── SandboxError            the built-in sandbox could not start
    └── NotAvailableYet         a command that is planned but not built yet
"""

from __future__ import annotations


class AppError(Exception):
    """An error with a message meant for the user.

    ``message`` says what failed and why; ``hint`` says what the user can do about it.
    ``details`` is optional technical context for logs and the "copy details" button.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def user_message(self) -> str:
        """The full text to show: the message, then the hint on its own line."""
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class SettingsError(AppError):
    """The settings file could not be read or written."""


class PolicyError(AppError):
    """The administrator's policy file is invalid, or it forbids what was asked."""


class PolicyLockedError(PolicyError):
    """A setting is locked by the administrator's policy."""


class DeviceError(AppError):
    """A camera or microphone is missing, busy, or not permitted."""


class RecordingError(AppError):
    """The recorder could not start or had to stop."""


class NetworkError(AppError):
    """A server could not be reached or did not answer in time. Usually worth a retry."""


class KalturaError(AppError):
    """The Kaltura service refused a request."""


class MicrosoftError(AppError):
    """Microsoft sign-in or Microsoft Graph failed."""


class SignInRequired(MicrosoftError):
    """There is no usable Microsoft account for this profile: the user must sign in."""


class MailError(AppError):
    """A template failed to render, or a message could not be built or sent."""


class SandboxError(AppError):
    """The built-in sandbox servers could not be started or reached."""


class NotAvailableYet(AppError):
    """A command or feature that is planned but not built yet."""

    exit_code = 2
