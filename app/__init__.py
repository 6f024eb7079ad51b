"""Video Messaging: record a personal video, host it in Kaltura, send it from your own mailbox.

Package map (the layout is the architecture):

- ``app.settings``, ``app.policy``, ``app.paths``, ``app.logsetup``, ``app.errors``: foundation.
- ``app.recorder``: camera + microphone to a crash-safe fragmented MP4 (no Qt).
- ``app.kaltura``: sessions, resumable uploads, entries and links (no Qt).
- ``app.microsoft``: MSAL sign-in, token cache, Graph client, recipient search (no Qt).
- ``app.mail``: templates, personalized messages, the outbox (no Qt).
- ``app.sandbox``: local servers that speak the Kaltura, Graph and identity protocols (no Qt).
- ``app.ui``: every line of Qt code, and nothing else.
"""

__version__ = "0.1.0"
APP_NAME = "Video Messaging"
APP_ID = "video-messaging"
APP_AUTHOR = "VideoMessaging"
