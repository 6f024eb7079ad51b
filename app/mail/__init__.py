"""Personalized video emails: templates, rendering, signatures, transports and the outbox.

Plain Python, no Qt. The pieces, in the order a send goes through them:

- :mod:`.text` cleans what people type (names, subjects, notes) and checks links;
- :mod:`.signature` sanitizes the user's signature HTML (nh3);
- :mod:`.templates` finds and renders templates (sandboxed Jinja2, StrictUndefined);
- :mod:`.message` builds one :class:`~.message.OutgoingMessage` per recipient (CSS inlined);
- :mod:`.outbox` keeps every message durably with its state (SQLite, WAL);
- :mod:`.pump` sends what is due, retrying only what is safe to retry;
- :mod:`.transports` deliver: Graph ``$batch`` sendMail or the draft flow, or SMTP;
- :mod:`.browser` shows a rendered email in a browser (previews, screenshots).

A whole send (checks, upload, outbox, pump) is ``app.workflow.send``.
"""
