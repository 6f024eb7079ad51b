"""A local Kaltura API v3 partner for the built-in sandbox (issue 3, contract part A).

- :mod:`.wire` decodes requests (JSON / multipart ``json`` + files / plain form with
  ``a:b`` and ``a[b]`` nesting, ``/key/value`` path params, query params winning) and
  serializes results and ``KalturaAPIException`` errors as JSON (``format=1``) or the XML
  envelope (``format=2``, the default).
- :mod:`.ks` generates and validates KS v2 (and reads v1).
- :mod:`.sessions` session.start / startWidgetSession, appToken.*, user.loginByLoginId.
- :mod:`.uploads` uploadToken.* with the resume / resumeAt / finalChunk rules.
- :mod:`.entries` media.*, category.add/list, categoryEntry.add/list, PyAV "conversion".
- :mod:`.delivery` thumbnails, playManifest/download, landing page, player script.
- :mod:`.service` the WSGI app (:class:`KalturaSandbox`) and :func:`start_kaltura`.

Sandbox-only additions (not in Kaltura): ``sandbox_views.list(entryId)`` (admin KS) and
the admin actions ``POST /_sandbox/expire-sessions`` and ``POST /_sandbox/views
{"entryId": ...}`` list the views and plays of an entry per recipient token.
Everything persists under ``data_dir/kaltura/``.
"""

from app.sandbox.kaltura.errors import KalturaAPIException
from app.sandbox.kaltura.service import KalturaSandbox, start_kaltura

__all__ = ["KalturaAPIException", "KalturaSandbox", "start_kaltura"]
