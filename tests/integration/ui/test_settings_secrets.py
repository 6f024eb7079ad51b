"""Settings takes the passwords a profile may need (a Kaltura login's, an SMTP server's):
they go to the system's secure storage on OK, never to the settings file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keyring
import keyring.backend
import pytest

from app import paths, secrets
from app.settings import KalturaSettings, MailDefaults, Profile


class MemoryKeyring(keyring.backend.KeyringBackend):
    """The OS keyring's interface, kept in memory (this machine may have no keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


def test_a_kaltura_password_and_an_smtp_password_are_stored_securely(
    qtbot: Any, desktop_factory: Any, memory_keyring: MemoryKeyring, monkeypatch: Any
) -> None:
    from app.ui.settings_dialog import SettingsDialog

    app = desktop_factory()
    # An organization that gives Kaltura logins and sends through its SMTP server.
    app.settings.profiles["Contoso"] = Profile(
        name="Contoso",
        kind="organization",
        kaltura=KalturaSettings(partner_id=12345, login_id="ann@contoso.example"),
        mail=MailDefaults(transport="smtp", smtp_host="smtp.contoso.example", smtp_username="ann"),
    )
    app.settings.active_profile = "Contoso"
    reopened: list[bool] = []
    monkeypatch.setattr(app, "open_services", lambda: reopened.append(True))
    dialog = SettingsDialog(app, app.window)
    qtbot.addWidget(dialog)
    assert dialog.login_id.text() == "ann@contoso.example"
    assert dialog.smtp_host.text() == "smtp.contoso.example"
    dialog.kaltura_password.setText("kaltura pw")
    dialog.smtp_password.setText("smtp pw")
    dialog.on_buttons_accepted()
    assert secrets.fetch("Contoso", secrets.KALTURA_PASSWORD) == "kaltura pw"
    assert secrets.fetch("Contoso", secrets.SMTP_PASSWORD) == "smtp pw"
    assert reopened == [True]  # the profile's services use them at once
    text = (
        paths.settings_path().read_text(encoding="utf-8") if paths.settings_path().exists() else ""
    )
    assert "kaltura pw" not in text and "smtp pw" not in text
    assert dialog.kaltura_password.text() == ""  # not kept in the window either


def test_a_microsoft_365_profile_shows_no_smtp_fields(
    qtbot: Any, desktop_factory: Any, memory_keyring: MemoryKeyring
) -> None:
    from app.ui.settings_dialog import SettingsDialog

    app = desktop_factory()
    app.settings.profiles["Contoso"] = Profile(name="Contoso", kind="organization")
    app.settings.active_profile = "Contoso"
    dialog = SettingsDialog(app, app.window)
    qtbot.addWidget(dialog)
    assert not hasattr(dialog, "smtp_password")
    assert dialog.fields["profiles.Contoso.kaltura.login_id"][1] == ""
