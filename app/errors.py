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

Besides its text, an error may carry an :class:`Action`: the next step the user can take,
as data. Core code never names a front end's way of taking it (no ``vmsg`` command, no
button label); the command line renders an action as the command to run, the desktop app
as a button. ``setting`` names the setting an ``OPEN_SETTINGS`` action is about.
"""

from __future__ import annotations

import enum


class Action(enum.Enum):
    """What the user can do about an error; each front end renders it its own way."""

    #: Sign in to Microsoft 365 (again) for this profile.
    SIGN_IN = "sign_in"
    #: Change a setting of the profile (``AppError.setting`` says which, when known).
    OPEN_SETTINGS = "open_settings"
    #: Try the same thing again (a busy server, a lost connection).
    RETRY = "retry"
    #: Check, reconnect, allow or choose another camera or microphone.
    CHECK_DEVICE = "check_device"
    #: Choose another file (missing, unreadable or not a video).
    CHOOSE_FILE = "choose_file"
    #: Finalize an interrupted take (crash recovery).
    RECOVER_TAKE = "recover_take"
    #: Look in Sent Items, then resend or mark as sent a message whose fate is unknown.
    CHECK_SENT_ITEMS = "check_sent_items"
    #: Ask the organization's administrator (consent, policy, accounts).
    CONTACT_ADMIN = "contact_admin"
    #: Free disk space or choose another drive.
    FREE_DISK_SPACE = "free_disk_space"
    #: Allow the app to use the camera or microphone (``AppError.target``: which) in the
    #: OS's privacy settings (macOS, Windows).
    ALLOW_DEVICE = "allow_device"


class AppError(Exception):
    """An error with a message meant for the user.

    ``message`` says what failed and why; ``hint`` says what the user can do about it.
    ``details`` is optional technical context for logs and the "copy details" button.
    """

    exit_code = 1
    #: The next step for errors of this class, unless the instance says otherwise.
    default_action: Action | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        details: str = "",
        action: Action | None = None,
        setting: str = "",
        target: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details
        self.action = action if action is not None else self.default_action
        #: For ``Action.OPEN_SETTINGS``: the setting's dotted name (``kaltura.partner_id``).
        self.setting = setting
        #: What else the action is about, e.g. the file to recover (``RECOVER_TAKE``).
        self.target = target

    def user_message(self) -> str:
        """The full text to show: the message, then the hint on its own line."""
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class SettingsError(AppError):
    """The settings file could not be read or written."""

    default_action = Action.OPEN_SETTINGS


class PolicyError(AppError):
    """The administrator's policy file is invalid, or it forbids what was asked."""

    default_action = Action.CONTACT_ADMIN


class PolicyLockedError(PolicyError):
    """A setting is locked by the administrator's policy."""


class DeviceError(AppError):
    """A camera or microphone is missing, busy, or not permitted."""

    default_action = Action.CHECK_DEVICE


class RecordingError(AppError):
    """The recorder could not start or had to stop."""


class NetworkError(AppError):
    """A server could not be reached or did not answer in time. Usually worth a retry."""

    default_action = Action.RETRY


class KalturaError(AppError):
    """The Kaltura service refused a request."""


class MicrosoftError(AppError):
    """Microsoft sign-in or Microsoft Graph failed."""


class SignInRequired(MicrosoftError):
    """There is no usable Microsoft account for this profile: the user must sign in."""

    default_action = Action.SIGN_IN


class MailError(AppError):
    """A template failed to render, or a message could not be built or sent."""


class SandboxError(AppError):
    """The built-in sandbox servers could not be started or reached."""


class NotAvailableYet(AppError):
    """A command or feature that is planned but not built yet."""

    exit_code = 2
