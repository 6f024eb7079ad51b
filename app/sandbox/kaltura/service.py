"""The Kaltura sandbox as one WSGI application: ``/api_v3/...`` (request decoding,
KS checks, dispatch, multirequest) plus the delivery routes of :mod:`.delivery`.

Every API answer, errors included, is HTTP 200 in the requested format
(docs/protocols.md, "Kaltura: responses and errors");
an unexpected bug becomes ``INTERNAL_SERVERL_ERROR`` (logged with its traceback, never
sent). Only bodies past the size limits get a non-200: 413, as the front web server of
the real service answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from app.sandbox.httpd import RunningServer, serve
from app.sandbox.kaltura import ks as ksmod
from app.sandbox.kaltura import wire
from app.sandbox.kaltura.delivery import Delivery
from app.sandbox.kaltura.entries import Entries
from app.sandbox.kaltura.errors import KalturaAPIException, api_error
from app.sandbox.kaltura.sessions import Call, Sessions
from app.sandbox.kaltura.store import Store
from app.sandbox.kaltura.uploads import Uploads

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 4 << 30  # one request (a chunk) at most
MAX_PARAMS_BYTES = 16 << 20  # JSON / form bodies and the multipart "json" field
UICONF_ID = 23450001
_REF = re.compile(r"\{(\d+):result(?::([^}]*))?\}")

# Actions a KS is not needed for (an invalid one is ignored rather than fatal, so a
# client holding an expired KS can always start over).
_NO_KS = {
    ("session", "start"),
    ("session", "startwidgetsession"),
    ("user", "loginbyloginid"),
    ("system", "ping"),
}
# What a widget KS (privilege widget:1) may do: start real sessions and view.
_WIDGET_OK = {
    ("apptoken", "startsession"),
    ("media", "get"),
    ("media", "list"),
    ("baseentry", "get"),
    ("baseentry", "list"),
    ("system", "ping"),
}


class _Request(Request):
    """werkzeug's Request with the file parts streamed to disk next to the uploads."""

    max_form_memory_size = MAX_PARAMS_BYTES
    max_form_parts = 200
    tmp_dir: Path

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # delete=False: uploads.py renames the finished part into place. Every part is
        # remembered so a body cut off mid-part leaves no file behind either.
        part = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by _cleanup
            dir=self.tmp_dir, prefix="part-", delete=False
        )
        self.__dict__.setdefault("_parts", []).append(part)
        return part


class KalturaSandbox:
    """A local Kaltura API v3 partner (WSGI app). See the package docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        partner_id: int = 100,
        conversion_seconds: float = 1.0,
        final_chunk_wait_seconds: float = 45.0,
        clock: Callable[[], float] = time.time,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.partner_id = partner_id
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.base_url = ""
        self.store = Store(self.data_dir)
        self.sessions = Sessions(self.store, partner_id, clock)
        self.uploads = Uploads(
            self.store,
            partner_id,
            clock,
            final_chunk_wait_seconds=final_chunk_wait_seconds,
            base_url=lambda: self.base_url,
            on_full=self._token_full,
        )
        self.entries = Entries(
            self.store,
            self.uploads,
            partner_id,
            clock,
            conversion_seconds=conversion_seconds,
            base_url=lambda: self.base_url,
        )
        self.delivery = Delivery(self.entries, partner_id, UICONF_ID)
        self._seed()
        self._actions = self._action_table()
        self.entries.resume_pending()

    # ------------------------------------------------------------------ public API

    def manifest(self) -> dict[str, Any]:
        """The "kaltura" section of sandbox.json."""
        token = self.store.app_tokens.get(self.store.state["seed_app_token_id"]) or {}
        login = self.store.state["login"]
        return {
            "url": self.base_url,
            "partner_id": self.partner_id,
            "admin_secret": self.sessions.admin_secret,
            "app_token": {
                "id": token.get("id"),
                "token": token.get("token"),
                "hash_type": token.get("hashType"),
            },
            "uiconf_id": UICONF_ID,
            "widget_id": f"_{self.partner_id}",
            "login": {"login_id": login["login_id"], "password": login["password"]},
        }

    def expire_all_sessions(self) -> None:
        """Every KS issued so far becomes invalid (INVALID_KS), as if it had expired."""
        self.sessions.expire_all()

    def views(self, entry_id: str) -> list[dict[str, Any]]:
        """Views and plays of an entry, each ``{kind, recipient, at}`` (sandbox only)."""
        return self.entries.views(entry_id)

    def register_admin_actions(self, actions: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
        """``POST /_sandbox/expire-sessions`` and ``POST /_sandbox/views {"entryId"}``."""

        def expire(_body: dict[str, Any]) -> Any:
            self.expire_all_sessions()
            return {"ok": True}

        def views(body: dict[str, Any]) -> Any:
            entry_id = body.get("entryId")
            if not isinstance(entry_id, str):
                raise ValueError("entryId (a string) is required")
            return {"entryId": entry_id, "events": self.views(entry_id)}

        actions["expire-sessions"] = expire
        actions["views"] = views

    def close(self) -> None:
        self.entries.close()

    # ------------------------------------------------------------------ setup

    def _seed(self) -> None:
        if "seed_app_token_id" not in self.store.state:
            # No sessionUserId: the user id the client sends (the person's email) wins.
            token = self.sessions.create_app_token(
                {"sessionType": "0", "hashType": "SHA256", "description": "sandbox desktop app"}
            )
            self.store.save_state(seed_app_token_id=token["id"])

    def _token_full(self, token_id: str) -> None:
        self.entries.token_full(token_id)

    def _action_table(self) -> dict[tuple[str, str], Callable[[Call], Any]]:
        s, u, e = self.sessions, self.uploads, self.entries
        return {
            ("session", "start"): s.session_start,
            ("session", "startwidgetsession"): s.start_widget_session,
            ("apptoken", "add"): s.app_token_add,
            ("apptoken", "get"): s.app_token_get,
            ("apptoken", "list"): s.app_token_list,
            ("apptoken", "delete"): s.app_token_delete,
            ("apptoken", "startsession"): s.app_token_start_session,
            ("user", "loginbyloginid"): s.login_by_login_id,
            ("uploadtoken", "add"): u.add,
            ("uploadtoken", "get"): u.get,
            ("uploadtoken", "upload"): u.upload,
            ("uploadtoken", "delete"): u.delete,
            ("uploadtoken", "list"): u.list_tokens,
            ("media", "add"): e.add,
            ("media", "addcontent"): e.add_content,
            ("media", "get"): e.get,
            ("media", "list"): e.list_entries,
            ("media", "update"): e.update,
            ("media", "updatecontent"): e.update_content,
            ("media", "delete"): e.delete,
            ("baseentry", "get"): e.get,
            ("baseentry", "list"): e.list_entries,
            ("baseentry", "update"): e.update,
            ("baseentry", "delete"): e.delete,
            ("category", "add"): e.category_add,
            ("category", "list"): e.category_list,
            ("categoryentry", "add"): e.category_entry_add,
            ("categoryentry", "list"): e.category_entry_list,
            ("system", "ping"): lambda call: True,
            ("sandbox_views", "list"): self._views_list,
        }

    def _views_list(self, call: Call) -> Any:
        """Sandbox-only service: ``sandbox_views.list(entryId)`` (admin KS)."""
        Sessions.require_admin(call)
        entry_id = call.params.text("entryId", required=True)
        self.entries.find(entry_id, None)
        events = [
            {**ev, "entryId": entry_id, "objectType": "KalturaSandboxView"}
            for ev in self.views(entry_id)
        ]
        return {
            "objects": events,
            "totalCount": len(events),
            "objectType": "KalturaSandboxViewListResponse",
        }

    # ------------------------------------------------------------------ WSGI

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = _Request(environ)
        request.tmp_dir = self.store.tmp_dir
        request.max_content_length = self.max_upload_bytes
        try:
            if request.path.startswith("/api_v3"):
                response = self._api(request)
            else:
                response = self.delivery.route(request) or Response(
                    "Not Found", status=404, content_type="text/plain"
                )
        except RequestEntityTooLarge:
            response = Response(
                "<html><head><title>413 Request Entity Too Large</title></head><body>"
                "<center><h1>413 Request Entity Too Large</h1></center></body></html>",
                status=413,
                content_type="text/html",
            )
        except HTTPException as exc:
            response = Response(
                exc.description or exc.name, status=exc.code or 400, content_type="text/plain"
            )
        except Exception:
            # A bug in a delivery route: logged here, never a traceback to the client.
            log.exception("kaltura sandbox: unexpected error serving %s", request.path)
            response = Response("Internal Server Error", status=500, content_type="text/plain")
        finally:
            _cleanup(request)
        return response(environ, start_response)

    # ------------------------------------------------------------------ API

    def _decode(self, request: Request) -> dict[str, Any]:
        ctype = request.headers.get("Content-Type", "")
        post: dict[str, Any] = {}
        files: dict[str, Any] = {}
        if ctype.lower() == "application/json":
            raw = request.stream.read(MAX_PARAMS_BYTES + 1)
            if len(raw) > MAX_PARAMS_BYTES:
                raise RequestEntityTooLarge()
            try:
                body = json.loads(raw) if raw else {}
            except (ValueError, UnicodeDecodeError):
                body = {}  # PHP json_decode -> null: the body is ignored
            if isinstance(body, dict):
                post = wire.renest(body)
        elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            if request.mimetype != "multipart/form-data" and (
                (request.content_length or 0) > MAX_PARAMS_BYTES
            ):
                raise RequestEntityTooLarge()
            form = request.form
            post = wire.nest((k, v) for k, v in form.items(multi=True) if k != "json")
            if request.mimetype == "multipart/form-data" and "json" in form:
                try:
                    body = json.loads(form["json"])
                except ValueError:
                    body = {}
                if isinstance(body, dict):
                    post = wire.merge(post, wire.renest(body))
            files = wire.nest(request.files.items(multi=True))
        # Extra /key/value path segments, then the query string: URL params win.
        segs = [s for s in request.path.split("/")[2:] if s and s.lower() != "index.php"]
        url_pairs = wire.path_params(segs)
        url = wire.nest([*url_pairs, *request.args.items(multi=True)])
        return wire.merge(wire.merge(post, files), url)

    def _api(self, request: Request) -> Response:
        started = time.monotonic()
        fmt = wire.FORMAT_XML
        try:
            params = self._decode(request)
            fmt_raw = params.get("format")
            if fmt_raw not in (None, "", wire.NULL):
                try:
                    fmt = int(str(fmt_raw))
                except ValueError:
                    fmt = -1
                if fmt not in (wire.FORMAT_JSON, wire.FORMAT_XML):
                    bad = fmt_raw
                    fmt = wire.FORMAT_XML
                    raise api_error("UNKNOWN_RESPONSE_FORMAT", bad)
            service = str(params.get("service") or "").lower()
            if service == "multirequest":
                result: Any = self._multirequest(params)
            else:
                result = self._call_safely(params)
        except KalturaAPIException as exc:
            result = exc
        except (RequestEntityTooLarge, HTTPException):
            raise
        except Exception:
            log.exception("kaltura sandbox: unexpected error decoding a request")
            result = api_error("INTERNAL_SERVERL_ERROR")
        body, ctype = wire.serialize(result, fmt, time.monotonic() - started)
        return Response(
            body,
            status=200,
            content_type=f"{ctype}; charset=utf-8",
            headers={"X-Me": "vmsg-sandbox", "X-Kaltura-Session": "0"},
        )

    def _call_safely(self, params: dict[str, Any]) -> Any:
        try:
            return self._call(params)
        except KalturaAPIException as exc:
            return exc
        except Exception:
            log.exception("kaltura sandbox: unexpected error")
            return api_error("INTERNAL_SERVERL_ERROR")

    def _call(self, params: dict[str, Any]) -> Any:
        service_raw = params.get("service")
        action_raw = params.get("action")
        if not isinstance(service_raw, str) or not service_raw:
            raise api_error("SERVICE_NOT_SPECIFIED")
        if not isinstance(action_raw, str) or not action_raw:
            raise api_error("ACTION_NOT_SPECIFIED")
        service, action = service_raw.lower(), action_raw.lower()
        if not any(svc == service for svc, _ in self._actions):
            raise api_error("SERVICE_DOES_NOT_EXISTS", service_raw)
        handler = self._actions.get((service, action))
        if handler is None:
            raise api_error("ACTION_DOES_NOT_EXISTS", action_raw, service_raw)
        ks_raw = params.get("ks")
        ks_raw = ks_raw if isinstance(ks_raw, str) else ""
        session: ksmod.KS | None = None
        if ks_raw:
            if (service, action) in _NO_KS:
                try:
                    session = self.sessions.validate(ks_raw)
                except KalturaAPIException:
                    session = None
            else:
                session = self.sessions.validate(ks_raw)
        if (
            session is not None
            and session.privileges.get("widget") == "1"
            and (service, action) not in _WIDGET_OK
            and (service, action) not in _NO_KS
        ):
            raise api_error("SERVICE_FORBIDDEN", f"{service_raw}->{action_raw}")
        call = Call(service, action, wire.Params(params), session, ks_raw if session else "")
        return handler(call)

    def _multirequest(self, params: dict[str, Any]) -> list[Any]:
        keys = sorted((k for k in params if wire.is_index(k)), key=int)
        inherited = {k: params[k] for k in ("ks", "partnerId", "clientTag") if k in params}
        results: list[Any] = []
        for key in keys:
            item = params[key]
            if not isinstance(item, dict):
                results.append(api_error("SERVICE_NOT_SPECIFIED"))
                continue
            call_params = {**inherited, **item}
            call_params = _resolve(call_params, results)
            results.append(self._call_safely(call_params))
        return results


def _lookup(result: Any, path: str) -> Any:
    value = wire.to_json_value(result)
    for seg in [s for s in path.split(":") if s]:
        if isinstance(value, dict) and seg in value:
            value = value[seg]
        elif isinstance(value, list) and wire.is_index(seg) and int(seg) < len(value):
            value = value[int(seg)]
        else:
            raise KeyError(path)
    return value


def _resolve(node: Any, results: list[Any]) -> Any:
    """Replace ``{N:result[:path]}`` (N counts calls from 1) with earlier results."""
    if isinstance(node, dict):
        return {k: _resolve(v, results) for k, v in node.items()}
    if not isinstance(node, str) or "{" not in node:
        return node

    def value_of(m: re.Match[str]) -> Any:
        index = int(m.group(1)) - 1
        if not 0 <= index < len(results) or isinstance(results[index], KalturaAPIException):
            raise KeyError(m.group(0))
        return _lookup(results[index], m.group(2) or "")

    whole = _REF.fullmatch(node)
    try:
        if whole:
            return value_of(whole)
        return _REF.sub(lambda m: str(value_of(m)), node)
    except KeyError:
        return node


def _cleanup(request: Request) -> None:
    """Close and remove request temp files that a handler did not take."""
    for part in request.__dict__.get("_parts", []):
        with contextlib.suppress(OSError):
            part.close()
        Path(part.name).unlink(missing_ok=True)


def start_kaltura(data_dir: Path, port: int = 0, **kw: Any) -> tuple[KalturaSandbox, RunningServer]:
    """Run a :class:`KalturaSandbox` on 127.0.0.1 (``port`` 0 = any free port)."""
    service = KalturaSandbox(Path(data_dir), **kw)
    server = serve(service, name="kaltura", port=port)
    service.base_url = server.url
    service.register_admin_actions(server.faults.admin_actions)
    return service, server
