"""The sandbox's Microsoft Graph v1.0: directory, people, mail and JSON batching.

Served under ``/v1.0/`` (the "Graph:" sections of docs/protocols.md, followed to the
letter where they are sure; our own choices are listed there too):

- ``GET /me``, ``GET /users/{id|upn}``, ``GET /users`` with ``$filter`` (startswith/eq
  joined by or/and; advanced operators need ``ConsistencyLevel: eventual`` and
  ``$count=true``, else ``400 Request_UnsupportedQuery``), ``$select``, ``$top`` (1..999,
  default page 100), ``$search`` and ``$orderby`` (advanced), ``@odata.nextLink`` paging
  with an opaque, tamper-evident ``$skiptoken``.
- ``GET /me/people`` with ``$search`` (fuzzy, relevance order), ``$top`` (default 10),
  ``$select``, ``$skip`` (not with ``$search``).
- ``POST /me/sendMail`` (202, empty body; requests over 4 MB get 413), the draft flow
  ``POST /me/messages`` (needs Mail.ReadWrite; honours ``Prefer: IdType="ImmutableId"``),
  ``GET /me/messages/{id}``, ``POST /me/messages/{id}/send`` (202) and
  ``GET /me/mailFolders/{drafts|sentitems|id}``. After a draft is sent its REST id is gone
  (``404 ErrorItemNotFound``, the message moved to Sent Items) while its immutable id now
  finds a message with ``isDraft: false`` in Sent Items. Sending it again is answered
  ``400 ErrorInvalidOperation`` (⚠ the real code is not documented; this choice is ours).
- ``POST /$batch``: at most 20 requests with unique string ids, a body needs a
  Content-Type header, ``dependsOn`` (a failed dependency gives 424), items run at most
  four at a time (as Graph dispatches Outlook requests), each with its own status.

Authorization is a Bearer access token the identity sandbox issued and validates:
missing/garbage -> ``401 InvalidAuthenticationToken``; expired -> the same code with
"Access token has expired or is not yet valid." and a ``WWW-Authenticate`` header; a scope
missing -> ``403 ErrorAccessDenied`` (mail, people) or ``403 Authorization_RequestDenied``
(directory). More than four concurrent requests for one mailbox (batch items count) ->
``429 ApplicationThrottled``. A signed-in user without a mailbox gets
``404 MailboxNotEnabledForRESTAPI`` from the mail endpoints. Every error body is exactly
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email
import email.policy
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from app.sandbox.directory import Directory, User
from app.sandbox.graph_mail import (
    GraphError,
    MailboxStore,
    decode_base64,
    folder_id,
    message_json,
    parse_bool,
    valid_address,
    validate_message,
)
from app.sandbox.graph_query import (
    QueryError,
    SkipTokens,
    advanced_operators,
    evaluate,
    parse_filter,
    parse_select,
    search_users,
)
from app.sandbox.identity import GRAPH_APP_ID, IdentitySandbox, TokenRejected, has_any_scope

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: ⚠ Graph documents no envelope limit for $batch; each item is still held to 4 MB.
MAX_BATCH_BYTES = 64 * 1024 * 1024
MAX_BATCH_ITEMS = 20
MAILBOX_CONCURRENCY = 4
DEFAULT_PAGE = 100
MAX_PAGE = 999

READ_DIRECTORY = ("User.ReadBasic.All", "User.Read.All", "Directory.Read.All")
READ_ME = ("User.Read", *READ_DIRECTORY)
READ_PEOPLE = ("People.Read", "People.Read.All")
READ_MAIL = ("Mail.Read", "Mail.ReadWrite")
USER_PROPERTIES = (
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "department",
)
PERSON_PROPERTIES = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "birthday",
    "personNotes",
    "isFavorite",
    "jobTitle",
    "companyName",
    "yomiCompany",
    "department",
    "officeLocation",
    "profession",
    "userPrincipalName",
    "imAddress",
    "scoredEmailAddresses",
    "phones",
    "postalAddresses",
    "websites",
    "personType",
)
_USER_OPTIONS = {"$filter", "$select", "$top", "$skiptoken", "$search", "$count", "$orderby"}
_PEOPLE_OPTIONS = {"$search", "$top", "$select", "$skip"}


def _denied_mail() -> GraphError:
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def _denied_directory() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def action_parameters(data: dict[str, Any], action: str, names: tuple[str, ...]) -> dict[str, Any]:
    """An action's JSON parameters keyed by their documented names, matched without regard
    to case (docs/protocols.md, "Graph: sending mail"); an unknown parameter, or one given
    twice in different cases, is a 400 as Graph answers it."""
    by_fold = {name.casefold(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key.startswith("@odata."):
            continue
        name = by_fold.get(key.casefold())
        if name is None:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The parameter '{key}' in the request payload is not a valid parameter for "
                f"the operation '{action}'.",
            )
        if name in out:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The parameter '{name}' was given more than once in the request payload "
                f"for the operation '{action}'.",
            )
        out[name] = value
    return out


@dataclass
class Answer:
    """One Graph response before serialization (shared by HTTP and $batch items)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    method: str
    path: str  # below /v1.0, e.g. "/me/sendMail"
    query: MultiDict[str, str]
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    client_request_id: str
    in_batch: bool = False


class GraphSandbox:
    """A WSGI app emulating Microsoft Graph v1.0 for the sandbox tenant."""

    def __init__(
        self,
        data_dir: Path,
        identity: IdentitySandbox,
        directory: Directory,
        *,
        mailbox_concurrency: int = MAILBOX_CONCURRENCY,
    ) -> None:
        self.data_dir = data_dir
        self.identity = identity
        self.directory = directory
        self.mailbox_concurrency = mailbox_concurrency
        #: Set by the starter once the server has a port (Graph API at base_url + "/v1.0").
        self.base_url = "https://127.0.0.1"
        #: How long each mailbox request holds its concurrency slot (tests raise it to make
        #: overlapping requests certain; real Exchange takes tens of milliseconds).
        self.mailbox_delay_s = 0.0
        self.store = MailboxStore(data_dir / "mailboxes")
        self._skip = SkipTokens(secrets.token_bytes(32))
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ public API

    def sent_messages(self, sender: str) -> list[dict[str, Any]]:
        """Every message ``sender`` got accepted, oldest first (the stored JSON records)."""
        return self.store.sent_messages(sender)

    def in_flight(self, upn: str) -> int:
        """How many mailbox requests of this user are being served right now."""
        user = self.directory.get(upn)
        with self._lock:
            return self._inflight.get(("mailbox", user.id), 0) if user else 0

    def admin_actions(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        def delay(body: dict[str, Any]) -> Any:
            self.mailbox_delay_s = float(body.get("seconds", 0.0))
            return {"mailbox_delay_s": self.mailbox_delay_s}

        def sent(body: dict[str, Any]) -> Any:
            return self.sent_messages(str(body.get("sender", "")))

        return {"mailbox-delay": delay, "sent-messages": sent}

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id", "") or request_id
        try:
            answer = self._http(request, request_id, client_request_id)
        except GraphError as exc:
            answer = self._error(exc, request_id, client_request_id)
        except Exception:  # a bug: log it, but never show a traceback to the client
            log.exception("graph sandbox: unexpected error for %s %s", request.method, request.path)
            answer = self._error(
                GraphError(500, "InternalServerError", "An internal server error occurred."),
                request_id,
                client_request_id,
            )
        response = self._response(answer, request_id, client_request_id)
        return response(environ, start_response)

    def _http(self, request: Request, request_id: str, client_request_id: str) -> Answer:
        path = request.path
        if path != "/v1.0" and not path.startswith("/v1.0/"):
            version = path.strip("/").split("/", 1)[0]
            raise GraphError(400, "BadRequest", f"Invalid version: {version}")
        sub = path[len("/v1.0") :] or "/"
        limit = MAX_BATCH_BYTES if sub.casefold() == "/$batch" else MAX_REQUEST_BYTES
        body = _read_body(request, limit)
        call = _Call(
            method=request.method,
            path=sub,
            query=MultiDict(request.args),
            headers=request.headers,  # type: ignore[arg-type]
            body=body,
            request_id=request_id,
            client_request_id=client_request_id,
        )
        return self.handle(call)

    def _response(self, answer: Answer, request_id: str, client_request_id: str) -> Response:
        headers = {
            "request-id": request_id,
            "client-request-id": client_request_id,
            "x-ms-ags-diagnostic": json.dumps(
                {"ServerInfo": {"DataCenter": "Sandbox", "Slice": "E", "Ring": "0"}}
            ),
            "Cache-Control": "no-cache",
            "Strict-Transport-Security": "max-age=31536000",
        }
        headers.update(answer.headers)
        if answer.body is None:
            return Response(b"", status=answer.status, headers=headers)
        headers["Content-Type"] = (
            "application/json;odata.metadata=minimal;odata.streaming=true;"
            "IEEE754Compatible=false;charset=utf-8"
        )
        headers["OData-Version"] = "4.0"
        return Response(_json_bytes(answer.body), status=answer.status, headers=headers)

    @staticmethod
    def _error(exc: GraphError, request_id: str, client_request_id: str) -> Answer:
        body = {
            "error": {
                "code": exc.code,
                "message": exc.message,
                "innerError": {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        }
        return Answer(exc.status, body, dict(exc.headers))

    # ------------------------------------------------------------------ dispatch

    def handle(self, call: _Call) -> Answer:
        """Route one call (top level or a batch item) and run it."""
        segs = [unquote(s) for s in call.path.strip("/").split("/")] if call.path.strip("/") else []
        low = [s.casefold() for s in segs]
        method = call.method.upper()
        try:
            if low == ["$batch"]:
                self._allow(method, "POST")
                if call.in_batch:
                    raise GraphError(400, "BadRequest", "A batch request cannot contain a batch.")
                return self._batch(call)
            if low == ["me"]:
                self._allow(method, "GET")
                claims, user = self._auth(call)
                self._need(claims, READ_ME, _denied_directory)
                return self._user_answer(call, user, "users/$entity")
            if low == ["users"]:
                self._allow(method, "GET")
                claims, _ = self._auth(call)
                self._need(claims, READ_DIRECTORY, _denied_directory)
                return self._users(call)
            if len(low) == 2 and low[0] == "users":
                self._allow(method, "GET")
                claims, _ = self._auth(call)
                self._need(claims, READ_DIRECTORY, _denied_directory)
                target = self.directory.get(segs[1])
                if target is None:
                    raise GraphError(
                        404,
                        "Request_ResourceNotFound",
                        f"Resource '{segs[1]}' does not exist or one of its queried "
                        "reference-property objects are not present.",
                    )
                return self._user_answer(call, target, "users/$entity")
            if low == ["me", "people"]:
                self._allow(method, "GET")
                claims, user = self._auth(call)
                self._need(claims, READ_PEOPLE, _denied_mail)
                with self._slot("people", user):
                    return self._people(call, user)
            if low == ["me", "sendmail"]:
                self._allow(method, "POST")
                claims, user = self._auth(call)
                self._need(claims, ("Mail.Send",), _denied_mail)
                self._mailbox(user)
                with self._slot("mailbox", user):
                    return self._send_mail(call, user)
            if low == ["me", "messages"]:
                self._allow(method, "POST")
                claims, user = self._auth(call)
                self._need(claims, ("Mail.ReadWrite",), _denied_mail)
                self._mailbox(user)
                with self._slot("mailbox", user):
                    return self._create_draft(call, user)
            if len(low) == 3 and low[:2] == ["me", "messages"]:
                self._allow(method, "GET")
                claims, user = self._auth(call)
                self._need(claims, READ_MAIL, _denied_mail)
                self._mailbox(user)
                with self._slot("mailbox", user):
                    return self._get_message(call, user, segs[2])
            if len(low) == 4 and low[:2] == ["me", "messages"] and low[3] == "send":
                self._allow(method, "POST")
                claims, user = self._auth(call)
                self._need(claims, ("Mail.Send",), _denied_mail)
                self._mailbox(user)
                with self._slot("mailbox", user):
                    return self._send_draft(user, segs[2])
            if len(low) == 3 and low[:2] == ["me", "mailfolders"]:
                self._allow(method, "GET")
                claims, user = self._auth(call)
                self._need(claims, READ_MAIL, _denied_mail)
                self._mailbox(user)
                return self._folder(user, segs[2])
        except QueryError as exc:
            raise GraphError(400, exc.code, exc.message) from exc
        segment = segs[-1] if segs else ""
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )

    def _www_authenticate(self, extra: str = "") -> str:
        value = (
            f'Bearer realm="", authorization_uri="{self.identity.authority}/oauth2/authorize", '
            f'client_id="{GRAPH_APP_ID}"'
        )
        return value + extra

    def _auth(self, call: _Call) -> tuple[dict[str, Any], User]:
        header = call.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip() if scheme.casefold() == "bearer" else ""
        try:
            claims = self.identity.validate_access_token(token)
        except TokenRejected as exc:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                exc.message,
                {"WWW-Authenticate": self._www_authenticate()},
            ) from exc
        challenge = self.identity.claims_challenge_for(claims)
        if challenge:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Continuous access evaluation resulted in challenge with result: "
                "InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
                {
                    "WWW-Authenticate": self._www_authenticate(
                        f', error="insufficient_claims", claims="{challenge}"'
                    )
                },
            )
        user = self.directory.get(str(claims.get("oid", "")))
        if user is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return claims, user

    @staticmethod
    def _need(
        claims: dict[str, Any], scopes: tuple[str, ...], error: Callable[[], GraphError]
    ) -> None:
        if not has_any_scope(claims, scopes):
            raise error()

    @staticmethod
    def _mailbox(user: User) -> None:
        if not user.has_mailbox:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )

    @contextlib.contextmanager
    def _slot(self, service: str, user: User) -> Iterator[None]:
        """Hold one of the mailbox's concurrent-request slots (Outlook allows four)."""
        key = (service, user.id)
        with self._lock:
            n = self._inflight.get(key, 0)
            if n >= self.mailbox_concurrency:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            self._inflight[key] = n + 1
        try:
            if self.mailbox_delay_s > 0:
                time.sleep(self.mailbox_delay_s)
            yield
        finally:
            with self._lock:
                self._inflight[key] -= 1

    # ------------------------------------------------------------------ directory

    def _context(self, what: str, select: list[str] | None = None) -> str:
        suffix = f"({','.join(select)})" if select else ""
        return f"{self.base_url}/v1.0/$metadata#{what}{suffix}"

    @staticmethod
    def _user_json(user: User, select: list[str] | None) -> dict[str, Any]:
        full = user.graph_json()
        if not select:
            return full
        out = {p: (user.department if p == "department" else full.get(p)) for p in select}
        out.setdefault("id", user.id)
        return out

    def _user_answer(self, call: _Call, user: User, what: str) -> Answer:
        select = parse_select(
            call.query.get("$select", ""), USER_PROPERTIES, "microsoft.graph.user"
        )
        body = {"@odata.context": self._context(what, select)}
        body.update(self._user_json(user, select))
        return Answer(200, body)

    def _users(self, call: _Call) -> Answer:
        q = call.query
        for key in q:
            if key.startswith("$") and key.casefold() not in _USER_OPTIONS:
                if key.casefold() == "$skip":
                    raise GraphError(
                        400,
                        "Request_BadRequest",
                        "'$skip' is not supported by the service. Use @odata.nextLink to page.",
                    )
                raise GraphError(400, "BadRequest", f"Query option '{key}' is not supported.")
        eventual = call.headers.get("ConsistencyLevel", "").strip().casefold() == "eventual"
        count = q.get("$count", "").strip().casefold() == "true"
        if q.get("$count", "").strip().casefold() not in ("", "true", "false"):
            raise GraphError(400, "BadRequest", "Invalid value for the $count query option.")
        advanced_ok = eventual and count
        top_raw = q.get("$top", str(DEFAULT_PAGE)).strip()
        if not top_raw.isdigit() or not 1 <= int(top_raw) <= MAX_PAGE:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top_raw}'. Must be between 1 and {MAX_PAGE} "
                "inclusive.",
            )
        top = int(top_raw)
        select = parse_select(q.get("$select", ""), USER_PROPERTIES, "microsoft.graph.user")
        filter_text = q.get("$filter")
        search_text = q.get("$search")
        orderby = q.get("$orderby", "").strip()
        matched: set[int] | None = None
        if filter_text is not None:
            tree = parse_filter(filter_text)
            advanced = advanced_operators(tree)
            if advanced and not advanced_ok:
                op = advanced[0]
                raise GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    f"Operator '{op}' is not supported because the required parameters might "
                    "be missing. Try adding $count=true query parameter and "
                    "ConsistencyLevel:eventual header. Refer to "
                    "https://aka.ms/graph-docs/advanced-queries for more information",
                )
            matched = evaluate(tree, self.directory)
        if search_text is not None:
            if not eventual:
                raise GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    "Request with $search query parameter only works through MSGraph with a "
                    "special request header: 'ConsistencyLevel: eventual'",
                )
            found = search_users(search_text, self.directory)
            matched = found if matched is None else matched & found
        if orderby and (filter_text is not None or search_text is not None) and not advanced_ok:
            raise GraphError(
                400, "Request_UnsupportedQuery", "Sorting not supported for current query."
            )
        order_prop, descending = _parse_orderby(orderby)
        query_key = "\x00".join([filter_text or "", search_text or "", orderby])
        offset = 0
        if "$skiptoken" in q:
            offset = self._skip.read(query_key, q["$skiptoken"])
        universe: Any = matched if matched is not None else range(len(self.directory.users))
        total = len(universe)
        if order_prop:
            users = self.directory.users
            ordered = sorted(
                universe,
                key=lambda i: str(getattr(users[i], order_prop) or "").casefold(),
                reverse=descending,
            )
            page = ordered[offset : offset + top]
        elif matched is None:
            page = list(range(offset, min(total, offset + top)))
        else:
            page = Directory.first(matched, offset + top)[offset:]
        body: dict[str, Any] = {"@odata.context": self._context("users", select)}
        if advanced_ok:
            body["@odata.count"] = total
        if offset + top < total:
            params = [(k, v) for k, v in q.items(multi=True) if k != "$skiptoken"]
            params.append(("$skiptoken", self._skip.make(query_key, offset + top)))
            qs = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params)
            body["@odata.nextLink"] = f"{self.base_url}/v1.0/users?{qs}"
        body["value"] = [self._user_json(self.directory.users[i], select) for i in page]
        return Answer(200, body)

    def _people(self, call: _Call, user: User) -> Answer:
        q = call.query
        for key in q:
            if key.startswith("$") and key.casefold() not in _PEOPLE_OPTIONS:
                raise GraphError(
                    400, "ErrorInvalidParameter", f"Query option '{key}' is not supported."
                )
        top_raw = q.get("$top", "10").strip()
        if not top_raw.isdigit() or not 1 <= int(top_raw) <= 1000:
            raise GraphError(
                400, "ErrorInvalidParameter", f"The value '{top_raw}' of $top is not valid."
            )
        top = int(top_raw)
        skip_raw = q.get("$skip", "0").strip()
        if not skip_raw.isdigit():
            raise GraphError(
                400, "ErrorInvalidParameter", f"The value '{skip_raw}' of $skip is not valid."
            )
        skip = int(skip_raw)
        select = parse_select(q.get("$select", ""), PERSON_PROPERTIES, "microsoft.graph.person")
        search = q.get("$search")
        if search is not None:
            if skip:
                raise GraphError(
                    400, "ErrorInvalidParameter", "$skip is not supported together with $search."
                )
            term = search.strip()
            if len(term) >= 2 and term[0] == term[-1] == '"':
                term = term[1:-1]
            people = self.directory.search_people(user, term)
        else:
            people = self.directory.people_for(user)
        page = people[skip : skip + top]
        values = []
        for person in page:
            full = person.graph_json()
            values.append({p: full.get(p) for p in select} | {"id": person.id} if select else full)
        context = self._context(f"users('{user.id}')/people", select)
        return Answer(200, {"@odata.context": context, "value": values})

    # ------------------------------------------------------------------ mail

    @staticmethod
    def _parse_json(call: _Call) -> Any:
        if not call.body.strip():
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        try:
            return json.loads(call.body)
        except (ValueError, RecursionError) as exc:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set "
                "and payload is of valid JSON format.",
            ) from exc

    def _send_mail(self, call: _Call, user: User) -> Answer:
        """sendMail. Its parameters are matched without regard to case: Graph's metadata
        spells them ``Message`` and ``SaveToSentItems`` (what Microsoft's SDKs send), the
        reference's examples ``message`` and ``saveToSentItems``, and Graph takes both."""
        content_type = call.headers.get("Content-Type", "").split(";", 1)[0].strip().casefold()
        if content_type == "text/plain":
            return self._send_mime(call, user)
        data = self._parse_json(call)
        if not isinstance(data, dict):
            raise GraphError(
                400, "BadRequest", "Unable to read JSON request payload: an object is expected."
            )
        params = action_parameters(data, "sendMail", ("message", "saveToSentItems"))
        message = validate_message(params.get("message"), require_recipients=True)
        save = params.get("saveToSentItems")
        save_flag = True if save is None else parse_bool(save, "saveToSentItems")
        self.store.store_sent(user.mail, message, source="sendMail", save_to_sent_items=save_flag)
        return Answer(202)

    def _send_mime(self, call: _Call, user: User) -> Answer:
        """sendMail with a base64 MIME body (Content-Type: text/plain), as Graph allows."""
        raw = decode_base64(call.body.decode("ascii", "replace"))
        if raw is None or not raw.strip():
            raise GraphError(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        recipients = []
        for header in ("To", "Cc", "Bcc"):
            for _, address in email.utils.getaddresses(parsed.get_all(header, [])):
                if address:
                    if not valid_address(address):
                        raise GraphError(
                            400,
                            "ErrorInvalidRecipients",
                            f"At least one recipient isn't valid., Recipient '{address}' is not "
                            "resolved. All recipients must be resolved before a message can be "
                            "submitted.",
                        )
                    recipients.append({"emailAddress": {"address": address}})
        if not recipients:
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., A message can't be sent because it "
                "contains no recipients.",
            )
        body_part = parsed.get_body(preferencelist=("html", "plain"))
        content = body_part.get_content() if body_part is not None else ""
        kind = (
            "HTML"
            if body_part is not None and body_part.get_content_subtype() == "html"
            else "Text"
        )
        message = {
            "subject": str(parsed.get("Subject", "")),
            "body": {"contentType": kind, "content": content},
            "toRecipients": recipients,
            "mime": base64.b64encode(raw).decode("ascii"),
        }
        self.store.store_sent(user.mail, message, source="sendMail-mime", save_to_sent_items=True)
        return Answer(202)

    def _create_draft(self, call: _Call, user: User) -> Answer:
        data = self._parse_json(call)
        message = validate_message(data, require_recipients=False)
        prefer = call.headers.get("Prefer", "")
        immutable = bool(re.search(r'(?i)IdType\s*=\s*"?ImmutableId"?', prefer))
        rec = self.store.save_draft(user.mail, message, immutable=immutable)
        body = {"@odata.context": self._context(f"users('{user.id}')/messages/$entity")}
        body.update(message_json("draft", rec, rec["responseId"]))
        headers = {"Preference-Applied": 'IdType="ImmutableId"'} if immutable else {}
        headers["Location"] = (
            f"{self.base_url}/v1.0/users('{user.id}')/messages('{rec['responseId']}')"
        )
        return Answer(201, body, headers)

    def _not_found(self) -> GraphError:
        return GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def _get_message(self, call: _Call, user: User, message_id: str) -> Answer:
        found = self.store.find(user.mail, message_id)
        if found is None:
            raise self._not_found()
        kind, rec = found
        immutable = bool(
            re.search(r'(?i)IdType\s*=\s*"?ImmutableId"?', call.headers.get("Prefer", ""))
        )
        shown = rec["immutableId"] if immutable else rec["id"]
        full = message_json(kind, rec, shown)
        select_raw = call.query.get("$select", "")
        select = (
            parse_select(select_raw, list(full), "microsoft.graph.message") if select_raw else []
        )
        body: dict[str, Any] = {
            "@odata.context": self._context(f"users('{user.id}')/messages/$entity")
        }
        if select:
            body.update({"@odata.etag": full["@odata.etag"], "id": shown})
            body.update({p: full[p] for p in select})
        else:
            body.update(full)
        headers = {"Preference-Applied": 'IdType="ImmutableId"'} if immutable else {}
        return Answer(200, body, headers)

    def _send_draft(self, user: User, message_id: str) -> Answer:
        found = self.store.find(user.mail, message_id)
        if found is None:
            raise self._not_found()
        kind, rec = found
        if kind != "draft":
            raise GraphError(
                400,
                "ErrorInvalidOperation",
                "The item has already been sent and can't be sent again.",
            )
        validate_message(rec.get("message"), require_recipients=True)
        try:
            self.store.send_draft(user.mail, message_id)
        except KeyError as exc:  # sent by a concurrent request a moment ago
            raise self._not_found() from exc
        return Answer(202)

    def _folder(self, user: User, name: str) -> Answer:
        folders = {
            "drafts": ("Drafts", "draft"),
            "sentitems": ("Sent Items", "sent"),
        }
        key = name.casefold()
        for wk, (display, kind) in folders.items():
            if key == wk or name == folder_id(user.mail, wk):
                body = {
                    "@odata.context": self._context(f"users('{user.id}')/mailFolders/$entity"),
                    "id": folder_id(user.mail, wk),
                    "displayName": display,
                    "parentFolderId": folder_id(user.mail, "msgfolderroot"),
                    "childFolderCount": 0,
                    "unreadItemCount": 0,
                    "totalItemCount": self.store.count(user.mail, kind),
                    "sizeInBytes": 0,
                    "isHidden": False,
                }
                return Answer(200, body)
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    # ------------------------------------------------------------------ $batch

    def _batch(self, call: _Call) -> Answer:
        data = self._parse_json(call)
        requests = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH_ITEMS:
            raise GraphError(
                400,
                "BadRequest",
                f"Number of batch requests exceeds the limit of {MAX_BATCH_ITEMS}.",
            )
        items: list[dict[str, Any]] = []
        ids: set[str] = set()
        for item in requests:
            if not isinstance(item, dict):
                raise GraphError(400, "BadRequest", "Invalid batch payload format.")
            rid = item.get("id")
            if not isinstance(rid, str) or not rid:
                raise GraphError(400, "BadRequest", "Every batch request needs a string 'id'.")
            if rid in ids:
                raise GraphError(400, "BadRequest", f"Batch request id '{rid}' is duplicated.")
            ids.add(rid)
            method, url = item.get("method"), item.get("url")
            if not isinstance(method, str) or method.upper() not in (
                "GET",
                "POST",
                "PUT",
                "PATCH",
                "DELETE",
            ):
                raise GraphError(400, "BadRequest", f"Invalid method for batch request id '{rid}'.")
            if not isinstance(url, str) or not url:
                raise GraphError(400, "BadRequest", f"Invalid URL for batch request id '{rid}'.")
            headers = item.get("headers", {})
            if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise GraphError(
                    400, "BadRequest", f"Invalid headers for batch request id '{rid}'."
                )
            if (
                "body" in item
                and item["body"] is not None
                and not any(k.casefold() == "content-type" for k in headers)
            ):
                raise GraphError(
                    400,
                    "BadRequest",
                    f"Write request id : {rid} does not contain Content-Type header or body.",
                )
            deps = item.get("dependsOn", [])
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise GraphError(
                    400, "BadRequest", f"Invalid dependsOn for batch request id '{rid}'."
                )
            items.append(item)
        for item in items:
            for dep in item.get("dependsOn", []):
                if dep not in ids or dep == item["id"]:
                    raise GraphError(
                        400,
                        "BadRequest",
                        f"Request id '{item['id']}' depends on unknown id '{dep}'.",
                    )
        _check_acyclic(items)
        results: dict[str, Answer] = {}
        pending = list(items)
        running: dict[Future[Answer], str] = {}
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="graph-batch") as pool:
            while pending or running:
                progressed = False
                for item in list(pending):
                    deps = item.get("dependsOn", [])
                    if not all(d in results for d in deps):
                        continue
                    pending.remove(item)
                    progressed = True
                    if any(results[d].status >= 400 for d in deps):
                        results[item["id"]] = Answer(
                            424,
                            {
                                "error": {
                                    "code": "FailedDependency",
                                    "message": "The dependent request failed.",
                                }
                            },
                            {"Content-Type": "application/json"},
                        )
                        continue
                    running[pool.submit(self._run_item, call, item)] = item["id"]
                if not running:
                    if not progressed:
                        break
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    results[running.pop(fut)] = fut.result()
        responses = []
        for item in items:
            ans = results[item["id"]]
            entry: dict[str, Any] = {"id": item["id"], "status": ans.status, "headers": ans.headers}
            if ans.body is not None:
                entry["body"] = ans.body
            responses.append(entry)
        return Answer(200, {"responses": responses})

    def _run_item(self, envelope: _Call, item: dict[str, Any]) -> Answer:
        url = str(item["url"])
        request_id = str(uuid.uuid4())
        if "://" in url:
            ans = self._error(
                GraphError(
                    400, "BadRequest", "Invalid request URL: batch request URLs must be relative."
                ),
                request_id,
                envelope.client_request_id,
            )
            return _item_answer(ans)
        path, _, qs = url.partition("?")
        if not path.startswith("/"):
            path = "/" + path
        headers = dict(item.get("headers", {}).items())
        if "Authorization" not in {k.title() for k in headers}:
            headers["Authorization"] = envelope.headers.get("Authorization", "")
        body = item.get("body")
        if body is None:
            raw = b""
        elif isinstance(body, str):
            raw = body.encode("utf-8", "surrogatepass")
        else:
            raw = _json_bytes(body)
        sub = _Call(
            method=str(item["method"]).upper(),
            path=path,
            query=MultiDict(_parse_qs(qs)),
            headers=_CaseInsensitive(headers),
            body=raw,
            request_id=request_id,
            client_request_id=envelope.client_request_id,
            in_batch=True,
        )
        try:
            if len(raw) > MAX_REQUEST_BYTES:
                raise GraphError(413, "RequestEntityTooLarge", _too_large_message())
            ans = self.handle(sub)
        except GraphError as exc:
            ans = self._error(exc, request_id, envelope.client_request_id)
        except Exception:
            log.exception("graph sandbox: unexpected error in batch item %s", url)
            ans = self._error(
                GraphError(500, "InternalServerError", "An internal server error occurred."),
                request_id,
                envelope.client_request_id,
            )
        return _item_answer(ans)


def _item_answer(ans: Answer) -> Answer:
    headers = dict(ans.headers)
    if ans.body is not None:
        headers.setdefault("Content-Type", "application/json")
    return Answer(ans.status, ans.body, headers)


class _CaseInsensitive(dict[str, str]):
    """Header mapping for batch items: look-ups ignore case like HTTP headers do."""

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.items():
            if k.casefold() == key.casefold():
                return v
        return default


def _parse_qs(qs: str) -> list[tuple[str, str]]:
    out = []
    for part in qs.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((unquote(k.replace("+", " ")), unquote(v.replace("+", " "))))
    return out


def _check_acyclic(items: list[dict[str, Any]]) -> None:
    deps = {i["id"]: list(i.get("dependsOn", [])) for i in items}
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise GraphError(400, "BadRequest", "The dependsOn graph of the batch has a cycle.")
        state[node] = 1
        for d in deps[node]:
            visit(d)
        state[node] = 2

    for node in deps:
        visit(node)


def _parse_orderby(text: str) -> tuple[str, bool]:
    if not text:
        return "", False
    parts = text.split()
    allowed = {
        p.casefold(): p
        for p in ("displayName", "userPrincipalName", "mail", "givenName", "surname")
    }
    prop = allowed.get(parts[0].casefold()) if parts else None
    if (
        prop is None
        or len(parts) > 2
        or (len(parts) == 2 and parts[1].casefold() not in ("asc", "desc"))
    ):
        raise GraphError(400, "Request_UnsupportedQuery", f"Sorting by '{text}' is not supported.")
    return prop, len(parts) == 2 and parts[1].casefold() == "desc"


def _too_large_message() -> str:
    return (
        f"The request is larger than the maximum of {MAX_REQUEST_BYTES} bytes. Send large "
        "attachments with an upload session."
    )


def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 (after draining it, so the connection stays usable)."""
    length = request.content_length
    stream = request.stream
    if length is not None and length > limit:
        _drain(stream)
        raise GraphError(413, "RequestEntityTooLarge", _too_large_message())
    data = stream.read(limit + 1)
    if len(data) > limit:
        _drain(stream)
        raise GraphError(413, "RequestEntityTooLarge", _too_large_message())
    return bytes(data)


def _drain(stream: Any, cap: int = 512 * 1024 * 1024) -> None:
    seen = 0
    while seen < cap:
        chunk = stream.read(1 << 20)
        if not chunk:
            return
        seen += len(chunk)


def _json_bytes(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates echoed from a client: escape them
        return json.dumps(obj, ensure_ascii=True).encode("ascii")
