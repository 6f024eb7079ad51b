"""Sessions for the Kaltura sandbox: ``session.start``, ``session.startWidgetSession``,
``appToken.add/get/list/startSession``, ``user.loginByLoginId``, and the KS checks every
other call goes through (docs/protocols.md, "Kaltura: sessions (KS)").

An expired KS gets ``INVALID_KS`` with the args the contract derives from the server
code (KSID "EXPIRED", "-1,INVALID_STR"). ``expire_all()`` (the ``expire-sessions`` admin
action) revokes every KS issued so far: issued sessions are registered by their random
bytes in ``kaltura/sessions.log``, and after a revocation only KSs registered since count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.sandbox.kaltura import ks as ksmod
from app.sandbox.kaltura.errors import (
    KS_INVALID_PARTNER,
    KS_INVALID_STR,
    api_error,
    invalid_ks,
)
from app.sandbox.kaltura.store import Store, atomic_write, safe_id
from app.sandbox.kaltura.wire import Params, field_int, field_str

APP_TOKEN_ACTIVE = 2
APP_TOKEN_DELETED = 3
HASH_TYPES = ("MD5", "SHA1", "SHA256", "SHA512")
DEFAULT_EXPIRY = 86400


@dataclass
class Call:
    """One API call as a handler sees it."""

    service: str
    action: str
    params: Params
    ks: ksmod.KS | None
    ks_raw: str

    def require_ks(self) -> ksmod.KS:
        if self.ks is None:
            raise api_error("MISSING_KS")
        return self.ks


class Sessions:
    """Issues and checks KSs for one partner."""

    def __init__(self, store: Store, partner_id: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.partner_id = partner_id
        self.clock = clock
        self._lock = threading.Lock()
        state = store.state
        if "admin_secret" not in state:
            store.save_state(
                admin_secret=secrets.token_hex(16),
                user_secret=secrets.token_hex(16),
                login={"login_id": "sandbox-admin@example.com", "password": "sandbox"},
                revoked_at=0,
            )
        self.admin_secret: str = store.state["admin_secret"]
        self.user_secret: str = store.state["user_secret"]
        self._log_path = store.root / "sessions.log"
        self._issued: set[str] = set()
        if self._log_path.exists():
            self._issued = set(self._log_path.read_text(encoding="ascii").split())

    # ------------------------------------------------------------------ issuing

    def now(self) -> int:
        return int(self.clock())

    def issue(self, *, type: int, user: str, expiry: int, privileges: str = "") -> str:
        rand = secrets.token_bytes(16)
        ks = ksmod.generate_v2(
            self.admin_secret,
            self.partner_id,
            type=type,
            user=user,
            expiry=self.now() + expiry,
            privileges=privileges,
            rand=rand,
        )
        with self._lock:
            self._issued.add(rand.hex())
            with open(self._log_path, "a", encoding="ascii") as f:
                f.write(rand.hex() + "\n")
        return ks

    def expire_all(self) -> None:
        with self._lock:
            self._issued.clear()
            atomic_write(self._log_path, b"")
            self.store.save_state(revoked_at=self.now())

    # ------------------------------------------------------------------ checking

    def validate(self, raw: str) -> ksmod.KS:
        try:
            pid = ksmod.partner_of(raw)
        except ksmod.KSError as exc:
            raise invalid_ks(raw, exc.sub) from exc
        if pid != self.partner_id:
            raise invalid_ks(raw, KS_INVALID_PARTNER)
        try:
            session = ksmod.decode(raw, [self.admin_secret, self.user_secret])
        except ksmod.KSError as exc:
            raise invalid_ks(raw, exc.sub) from exc
        revoked = bool(self.store.state.get("revoked_at"))
        with self._lock:
            known = session.rand.hex() in self._issued
        if session.expiry < self.now() or (revoked and not known):
            # Derived from kPermissionManager: expired -> "EXPIRED", -1
            # (docs/protocols.md, "Kaltura: responses and errors").
            raise invalid_ks("EXPIRED", KS_INVALID_STR)
        if session.type not in (ksmod.SESSION_USER, ksmod.SESSION_ADMIN):
            raise invalid_ks(raw, ("-4", "INVALID_TYPE"))
        return session

    @staticmethod
    def require_admin(call: Call) -> ksmod.KS:
        session = call.require_ks()
        if not session.is_admin:
            raise api_error("SERVICE_FORBIDDEN", f"{call.service}->{call.action}")
        return session

    # ------------------------------------------------------------------ session

    def session_start(self, call: Call) -> Any:
        p = call.params
        secret = p.text("secret", required=True)
        user = p.text("userId", "") or ""
        ks_type = p.integer("type", ksmod.SESSION_USER)
        pid = p.integer("partnerId")
        expiry = p.integer("expiry", DEFAULT_EXPIRY) or DEFAULT_EXPIRY
        privileges = p.text("privileges", "") or ""
        if pid != self.partner_id:
            raise api_error("START_SESSION_ERROR", "" if pid is None else pid)
        ok = hmac.compare_digest(secret, self.admin_secret) or (
            ks_type == ksmod.SESSION_USER and hmac.compare_digest(secret, self.user_secret)
        )
        if not ok or ks_type not in (ksmod.SESSION_USER, ksmod.SESSION_ADMIN):
            raise api_error("START_SESSION_ERROR", pid)
        return self.issue(type=ks_type, user=user, expiry=expiry, privileges=privileges)

    def start_widget_session(self, call: Call) -> Any:
        widget = call.params.text("widgetId", required=True)
        expiry = call.params.integer("expiry", DEFAULT_EXPIRY) or DEFAULT_EXPIRY
        if widget != f"_{self.partner_id}":
            raise api_error("INVALID_WIDGET_ID", widget)
        ks = self.issue(
            type=ksmod.SESSION_USER, user="", expiry=expiry, privileges="view:*,widget:1"
        )
        return {
            "partnerId": self.partner_id,
            "ks": ks,
            "userId": 0,
            "objectType": "KalturaStartWidgetSessionResponse",
        }

    # ------------------------------------------------------------------ user

    def login_by_login_id(self, call: Call) -> Any:
        p = call.params
        login_id = p.text("loginId", required=True)
        password = p.text("password", required=True)
        pid = p.integer("partnerId")
        expiry = p.integer("expiry", DEFAULT_EXPIRY) or DEFAULT_EXPIRY
        privileges = p.text("privileges", "*") or "*"
        login = self.store.state.get("login", {})
        if pid is not None and pid != self.partner_id:
            raise api_error("START_SESSION_ERROR", pid)
        if login_id.lower() != str(login.get("login_id", "")).lower():
            raise api_error("LOGIN_DATA_NOT_FOUND")
        if not hmac.compare_digest(password, str(login.get("password", ""))):
            raise api_error("USER_WRONG_PASSWORD")
        return self.issue(
            type=ksmod.SESSION_ADMIN, user=login["login_id"], expiry=expiry, privileges=privileges
        )

    # ------------------------------------------------------------------ app tokens

    def app_token_object(self, token: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": token["id"],
            "token": token["token"],
            "partnerId": self.partner_id,
            "createdAt": token["createdAt"],
            "updatedAt": token["updatedAt"],
            "status": token["status"],
            "expiry": token.get("expiry"),
            "sessionType": token.get("sessionType"),
            "sessionUserId": token.get("sessionUserId"),
            "sessionDuration": token.get("sessionDuration"),
            "sessionPrivileges": token.get("sessionPrivileges"),
            "hashType": token.get("hashType") or "SHA1",
            "description": token.get("description"),
            "objectType": "KalturaAppToken",
        }

    def create_app_token(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        hash_type = (field_str(fields, "hashType") or "SHA1").upper()
        if hash_type not in HASH_TYPES:
            raise api_error("INVALID_ENUM_VALUE", hash_type, "hashType", "KalturaAppTokenHashType")
        session_type = field_int(fields, "sessionType")
        token: dict[str, Any] = {
            "id": "0_" + secrets.token_hex(4),
            "token": field_str(fields, "token") or secrets.token_hex(16),
            "createdAt": now,
            "updatedAt": now,
            "status": APP_TOKEN_ACTIVE,
            "expiry": field_int(fields, "expiry"),
            "sessionType": session_type,
            "sessionUserId": field_str(fields, "sessionUserId"),
            "sessionDuration": field_int(fields, "sessionDuration"),
            "sessionPrivileges": field_str(fields, "sessionPrivileges"),
            "hashType": hash_type,
            "description": field_str(fields, "description"),
        }
        self.store.app_tokens.put(token["id"], token)
        return token

    def app_token_add(self, call: Call) -> Any:
        self.require_admin(call)
        fields = call.params.obj("appToken", required=True) or {}
        return self.app_token_object(self.create_app_token(fields))

    def _app_token(self, token_id: str) -> dict[str, Any]:
        token = self.store.app_tokens.get(token_id) if safe_id(token_id) else None
        if token is None or token["status"] == APP_TOKEN_DELETED:
            raise api_error("APP_TOKEN_ID_NOT_FOUND", token_id)
        return token

    def app_token_get(self, call: Call) -> Any:
        self.require_admin(call)
        return self.app_token_object(self._app_token(call.params.text("id", required=True)))

    def app_token_list(self, call: Call) -> Any:
        self.require_admin(call)
        objs = [
            self.app_token_object(t)
            for t in self.store.app_tokens.values()
            if t["status"] != APP_TOKEN_DELETED
        ]
        return {
            "objects": objs,
            "totalCount": len(objs),
            "objectType": "KalturaAppTokenListResponse",
        }

    def app_token_delete(self, call: Call) -> Any:
        self.require_admin(call)
        token = self._app_token(call.params.text("id", required=True))
        self.store.app_tokens.update(token["id"], status=APP_TOKEN_DELETED, updatedAt=self.now())
        return None

    def app_token_start_session(self, call: Call) -> Any:
        p = call.params
        token_id = p.text("id", required=True)
        token_hash = p.text("tokenHash", required=True)
        call.require_ks()
        token = self._app_token(token_id)
        now = self.now()
        if token["status"] != APP_TOKEN_ACTIVE:
            raise api_error("APP_TOKEN_NOT_ACTIVE", token_id)
        if token.get("expiry") and token["expiry"] <= now:
            raise api_error("APP_TOKEN_EXPIRED", token_id)
        algo = (token.get("hashType") or "SHA1").lower()
        want = hashlib.new(algo, (call.ks_raw + token["token"]).encode("utf-8")).hexdigest()
        if not hmac.compare_digest(want, token_hash.lower()):
            raise api_error("INVALID_APP_TOKEN_HASH")
        user = token.get("sessionUserId") or p.text("userId", "") or ""
        ks_type = token.get("sessionType")
        if ks_type is None:
            ks_type = p.integer("type", ksmod.SESSION_USER)
        if ks_type not in (ksmod.SESSION_USER, ksmod.SESSION_ADMIN):
            raise api_error("INVALID_ENUM_VALUE", ks_type, "type", "KalturaSessionType")
        expiry = p.integer("expiry", DEFAULT_EXPIRY) or DEFAULT_EXPIRY
        if token.get("sessionDuration"):
            expiry = min(expiry, int(token["sessionDuration"]))
        if token.get("expiry"):
            expiry = min(expiry, int(token["expiry"]) - now)
        privileges = token.get("sessionPrivileges") or p.text("sessionPrivileges", "") or ""
        extra = f"sessionid:{secrets.token_hex(8)},apptoken:{token_id}"
        privileges = f"{privileges},{extra}" if privileges else extra
        ks = self.issue(type=ks_type, user=user, expiry=expiry, privileges=privileges)
        return {
            "ks": ks,
            "sessionType": ks_type,
            "partnerId": self.partner_id,
            "userId": user,
            "expiry": now + expiry,
            "privileges": ksmod.KS(
                self.partner_id, ks_type, user, now + expiry, ksmod.parse_privileges(privileges)
            ).privileges_string(),
            "objectType": "KalturaSessionInfo",
        }
