"""The mail integration tests use the same sender, GIF and composition as the unit tests."""

from tests.unit.mail.conftest import composition, gif, sender  # noqa: F401 - pytest fixtures
