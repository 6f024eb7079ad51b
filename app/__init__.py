"""Video Messaging: record a personal video, host it in Kaltura, send it from your own mailbox.

Package map (the layout is the architecture; ``import-linter`` holds it, see pyproject.toml):

- front ends: ``app.cli`` (the ``vmsg`` command line) and ``app.ui`` (every line of Qt
  code, and nothing else), both thin, on
- ``app.workflow``: services, take, send, uploads, start-up reconcile (no Qt), on
- the domain packages, which know neither each other (the Graph mail transport aside) nor
  any front end:

  - ``app.recorder``: camera + microphone to a crash-safe fragmented MP4;
  - ``app.kaltura``: sessions, resumable uploads, entries and links;
  - ``app.microsoft``: MSAL sign-in, token cache, Graph client, recipient search;
  - ``app.mail``: templates, personalized messages, the outbox, transports; on

- the base: ``app.settings``, ``app.policy``, ``app.paths``, ``app.errors``,
  ``app.logsetup``, ``app.crash``, ``app.secrets``, ``app.endpoints``, ``app.net``.
- ``app.sandbox`` beside them: local servers that speak the Kaltura, Graph and identity
  protocols; no client package imports it (the workflow starts it).
"""

__version__ = "0.1.0"
APP_NAME = "Video Messaging"
APP_ID = "video-messaging"
APP_AUTHOR = "VideoMessaging"
