"""The sandbox's Microsoft identity platform (Entra ID v2.0 endpoints) for MSAL.

What MSAL 1.39 needs, and nothing pretends beyond it (docs/protocols.md, "Identity: MSAL
Python behaviour we depend on"):

- OpenID discovery at ``/<tenant>/v2.0/.well-known/openid-configuration`` (and the v1 path
  ``/<tenant>/.well-known/openid-configuration``), keys at ``/<tenant>/discovery/v2.0/keys``.
- ``/<tenant>/oauth2/v2.0/authorize``: the authorization-code flow with PKCE. MSAL forces
  ``response_mode=form_post``, so the answer is Entra's auto-submitting form that POSTs
  ``code``, ``state`` and ``client_info`` to the loopback redirect URI. In sandbox mode it
  completes at once (the user is ``login_hint`` if that is an account that can sign in,
  else the first sender); with ``auto_approve`` off it shows an account picker a person
  or a test submits.
- ``/<tenant>/oauth2/v2.0/token``: ``authorization_code`` (PKCE S256/plain verified, codes
  single-use, 10 minutes), ``refresh_token`` (a new refresh token on every use, as Entra
  does; old ones stay valid until they expire or are revoked), and the device-code grant
  with ``authorization_pending`` / ``authorization_declined`` / ``expired_token``.
- ``/<tenant>/oauth2/v2.0/devicecode``; device codes are approved at once unless
  ``auto_approve`` is off, then :meth:`IdentitySandbox.approve_device_code` /
  :meth:`~IdentitySandbox.decline_device_code` (or the ``/devicelogin`` page) decide.

Tokens are RS256 JWTs signed with a key kept in ``DIR/identity/signing-key.pem`` (reused
across restarts, like the refresh-token store ``DIR/identity/state.json``, which holds only
hashes of refresh tokens). Access tokens carry ``scp`` (exactly the Graph scopes asked for,
``openid``/``profile``/``email`` when asked; ``offline_access`` only decides whether a
refresh token is issued), ``upn``, ``preferred_username``, ``oid``, ``tid``, ``aud``
(Graph), ``exp``; the Graph sandbox validates them with :meth:`validate_access_token`.
id_tokens carry iss, aud, sub, oid, tid, preferred_username, name, the nonce echoed, iat
and exp; the token response carries ``client_info`` (base64url ``{"uid","utid"}``).

Errors use Entra's OAuth JSON shape (error, error_description starting "AADSTSnnnn:",
error_codes, timestamp, trace_id, correlation_id, error_uri): unknown tenant AADSTS90002,
unknown client id AADSTS700016, bad scope AADSTS70011, PKCE mismatch AADSTS501481, a
redeemed code AADSTS54005, a revoked refresh token AADSTS50173, missing consent AADSTS65001.

Conditional access: :meth:`require_claims_challenge` makes Graph answer 401 with
``WWW-Authenticate: Bearer ... error="insufficient_claims", claims="<base64 json>"`` until
the client presents a token obtained with a ``claims`` request naming that challenge.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import html
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from app import system
from app.sandbox.directory import Directory, User

log = logging.getLogger(__name__)

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
#: Graph's delegated permissions the sandbox knows (canonical spelling).
GRAPH_SCOPES = (
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
    "People.Read",
    "People.Read.All",
    "Mail.Send",
    "Mail.Read",
    "Mail.ReadWrite",
    "Contacts.Read",
)
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
#: What ``.default`` grants: the permissions the app registration lists.
DEFAULT_PERMISSIONS = ("User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All")
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_FORM_BYTES = 1 << 20


class IdentityError(Exception):
    """An OAuth error answer (Entra's JSON shape)."""

    def __init__(
        self, error: str, code: int, description: str, status: int = 400, suberror: str = ""
    ) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.error = error
        self.code = code
        self.description = description
        self.status = status
        self.suberror = suberror


class TokenRejected(Exception):
    """An access token Graph must not accept. ``kind`` is "expired" or "invalid"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    oidc: list[str]
    nonce: str
    challenge: str
    method: str
    claims_nbf: str
    expires: float
    used: bool = False


@dataclass
class _DeviceCode:
    user_code: str
    client_id: str
    scopes: list[str]
    oidc: list[str]
    claims_nbf: str
    expires: float
    status: str = "pending"  # pending | approved | declined | redeemed
    user_id: str = ""


@dataclass
class _PendingSignIn:
    params: dict[str, str]
    tenant: str
    created: float


@dataclass
class _State:
    generation: int = 1
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    consents: dict[str, list[str]] = field(default_factory=dict)


class IdentitySandbox:
    """A WSGI app emulating the Microsoft identity platform for one tenant and one app."""

    def __init__(
        self,
        data_dir: Path,
        directory: Directory,
        *,
        tenant_id: str,
        client_id: str,
        auto_approve: bool = True,
        access_token_lifetime: int = 3600,
        refresh_token_lifetime: int = 90 * 86400,
        device_code_lifetime: int = 900,
        device_code_interval: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = data_dir
        self.directory = directory
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.auto_approve = auto_approve
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.device_code_lifetime = device_code_lifetime
        self.device_code_interval = device_code_interval
        self.clock = clock
        #: Set by the starter once the server has a port.
        self.base_url = "https://127.0.0.1"
        self._lock = threading.RLock()
        self._dir = data_dir / "identity"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._key = self._load_or_create_key()
        pub = self._key.public_key().public_numbers()
        self._kid = b64url(hashlib.sha256(str(pub.n).encode()).digest()[:15])
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "kid": self._kid,
            "x5t": self._kid,
            "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
            "e": b64url(pub.e.to_bytes(3, "big")),
            "issuer": "",
        }
        self._state = self._load_state()
        self._codes: dict[str, _AuthCode] = {}
        self._device: dict[str, _DeviceCode] = {}
        self._pending: dict[str, _PendingSignIn] = {}
        self._issued: list[str] = []
        self._challenge: str = ""  # the nbf value of the active claims challenge
        self._url_map = Map(
            [
                Rule("/<tenant>/v2.0/.well-known/openid-configuration", endpoint="discovery"),
                Rule("/<tenant>/.well-known/openid-configuration", endpoint="discovery"),
                Rule("/<tenant>/discovery/v2.0/keys", endpoint="keys"),
                Rule("/<tenant>/discovery/keys", endpoint="keys"),
                Rule("/<tenant>/oauth2/v2.0/authorize", endpoint="authorize"),
                Rule("/<tenant>/oauth2/v2.0/token", endpoint="token"),
                Rule("/<tenant>/oauth2/v2.0/devicecode", endpoint="devicecode"),
                Rule("/<tenant>/oauth2/v2.0/logout", endpoint="logout"),
                Rule("/<tenant>/sandbox/signin", endpoint="signin", methods=["POST"]),
                Rule("/devicelogin", endpoint="devicelogin"),
                Rule("/error", endpoint="error_page"),
            ],
            strict_slashes=False,
        )

    # ------------------------------------------------------------------ public API

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    def validate_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid Graph access token; raises :class:`TokenRejected`."""
        if not token:
            raise TokenRejected("invalid", "Access token is empty.")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected(
                "invalid", "IDX14100: JWT is not well formed, there are no dots (.)."
            )
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenRejected(
                "invalid", "IDX14102: Unable to decode the header or payload as Base64Url."
            ) from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenRejected("invalid", "Invalid JWT token.")
        if header.get("alg") != "RS256" or header.get("kid") != self._kid:
            raise TokenRejected("invalid", "Access token validation failure.")
        try:
            self._key.public_key().verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, UnicodeEncodeError) as exc:
            raise TokenRejected("invalid", "Access token validation failure.") from exc
        if claims.get("aud") != GRAPH_RESOURCE or claims.get("tid") != self.tenant_id:
            raise TokenRejected("invalid", "Access token validation failure. Invalid audience.")
        if not _same_issuer(claims.get("iss"), self.issuer):
            raise TokenRejected("invalid", "Access token validation failure. Invalid issuer.")
        now = self.clock()
        with self._lock:
            generation = self._state.generation
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if (
            not isinstance(exp, int)
            or not isinstance(nbf, int)
            or now >= exp
            or now < nbf - 300
            or claims.get("xms_sbx_gen") != generation
        ):
            raise TokenRejected("expired", "Access token has expired or is not yet valid.")
        return claims

    def claims_challenge_for(self, claims: dict[str, Any]) -> str:
        """The base64 ``claims`` challenge a token does not satisfy, or "" if it is fine."""
        with self._lock:
            nbf = self._challenge
        if not nbf or claims.get("xms_sbx_nbf") == nbf:
            return ""
        challenge = {"access_token": {"nbf": {"essential": True, "value": nbf}}}
        return base64.b64encode(json.dumps(challenge, separators=(",", ":")).encode()).decode()

    def require_claims_challenge(self, enabled: bool = True) -> str:
        """Turn the conditional-access challenge on (returns its base64 claims) or off."""
        with self._lock:
            self._challenge = str(int(self.clock())) if enabled else ""
        return self.claims_challenge_for({}) if enabled else ""

    def expire_all_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens still work)."""
        with self._lock:
            self._state.generation += 1
            self._save_state()

    def revoke_refresh_tokens(self, upn: str | None = None) -> int:
        """Revoke the refresh tokens of one user (or everyone). Returns how many."""
        user = self.directory.get(upn) if upn else None
        if upn and user is None:
            raise ValueError(f"no such user: {upn}")
        n = 0
        with self._lock:
            for rec in self._state.refresh_tokens.values():
                if (user is None or rec["user_id"] == user.id) and not rec["revoked"]:
                    rec["revoked"] = True
                    n += 1
            self._save_state()
        return n

    def issued_secrets(self) -> list[str]:
        """Every code and token string issued by this instance (for leak tests)."""
        with self._lock:
            return list(self._issued)

    def approve_device_code(self, user_code: str, upn: str | None = None) -> None:
        user = self._pick_user(upn)
        with self._lock:
            rec = self._device_by_user_code(user_code)
            rec.status = "approved"
            rec.user_id = user.id

    def decline_device_code(self, user_code: str) -> None:
        with self._lock:
            self._device_by_user_code(user_code).status = "declined"

    def pending_device_codes(self) -> list[str]:
        with self._lock:
            return [d.user_code for d in self._device.values() if d.status == "pending"]

    def admin_actions(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        """Routes for ``POST /_sandbox/<name>`` on the identity server."""

        def expire(_: dict[str, Any]) -> Any:
            self.expire_all_tokens()
            return {"ok": True}

        def revoke(body: dict[str, Any]) -> Any:
            return {"revoked": self.revoke_refresh_tokens(body.get("upn"))}

        def approve(body: dict[str, Any]) -> Any:
            self.approve_device_code(str(body.get("user_code", "")), body.get("upn"))
            return {"ok": True}

        def decline(body: dict[str, Any]) -> Any:
            self.decline_device_code(str(body.get("user_code", "")))
            return {"ok": True}

        def auto(body: dict[str, Any]) -> Any:
            self.auto_approve = bool(body.get("enabled", True))
            return {"auto_approve": self.auto_approve}

        def challenge(body: dict[str, Any]) -> Any:
            return {"claims": self.require_claims_challenge(bool(body.get("enabled", True)))}

        return {
            "expire-tokens": expire,
            "revoke-refresh-tokens": revoke,
            "approve-device-code": approve,
            "decline-device-code": decline,
            "auto-approve": auto,
            "claims-challenge": challenge,
        }

    # ------------------------------------------------------------------ persistence

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        path = self._dir / "signing-key.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return key
        except (OSError, ValueError, TypeError):
            pass
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        system.replace_file(tmp, path)
        return key

    def _load_state(self) -> _State:
        path = self._dir / "state.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return _State(
                generation=int(raw["generation"]),
                refresh_tokens=dict(raw["refresh_tokens"]),
                consents={k: list(v) for k, v in raw.get("consents", {}).items()},
            )
        except FileNotFoundError:
            return _State()
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # Damaged: kept aside once; everyone signs in again (refresh tokens are gone).
            with contextlib.suppress(OSError):
                system.keep_damaged(path, move=True)
            return _State()

    def _save_state(self) -> None:
        now = self.clock()
        self._state.refresh_tokens = {
            k: v for k, v in self._state.refresh_tokens.items() if v["expires"] > now
        }
        data = {
            "generation": self._state.generation,
            "refresh_tokens": self._state.refresh_tokens,
            "consents": self._state.consents,
        }
        path = self._dir / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        system.replace_file(tmp, path)

    # ------------------------------------------------------------------ helpers

    def _pick_user(self, hint: str | None) -> User:
        user = self.directory.get(hint) if hint else None
        if user is not None and user.can_sign_in:
            return user
        return self.directory.senders[0]

    def _device_by_user_code(self, user_code: str) -> _DeviceCode:
        for rec in self._device.values():
            if rec.user_code == user_code.strip().upper():
                return rec
        raise ValueError(f"no such device code: {user_code}")

    def _remember(self, secret: str) -> str:
        with self._lock:
            self._issued.append(secret)
        return secret

    def _check_tenant(self, tenant: str) -> None:
        known = {self.tenant_id.casefold(), self.directory.domain.casefold()}
        if tenant.casefold() not in known | {"common", "organizations"}:
            raise IdentityError(
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )

    def _check_client(self, client_id: str | None) -> None:
        if not client_id:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        if client_id != self.client_id:
            raise IdentityError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                "'Contoso'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )

    @staticmethod
    def _parse_scopes(raw: str | None) -> tuple[list[str], list[str]]:
        """(Graph scopes in the order asked, OIDC scopes) or IdentityError invalid_scope."""
        if not raw or not raw.split():
            raise IdentityError(
                "invalid_scope",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        canonical = {s.casefold(): s for s in GRAPH_SCOPES}
        graph: list[str] = []
        oidc: list[str] = []
        for item in raw.split():
            name = item
            if item.casefold().startswith(GRAPH_RESOURCE.casefold() + "/"):
                name = item[len(GRAPH_RESOURCE) + 1 :]
            elif item.casefold().startswith(GRAPH_APP_ID + "/"):
                name = item[len(GRAPH_APP_ID) + 1 :]
            if item.casefold() in OIDC_SCOPES:
                if item.casefold() not in oidc:
                    oidc.append(item.casefold())
            elif name == ".default":
                graph += [s for s in DEFAULT_PERMISSIONS if s not in graph]
            elif name.casefold() in canonical:
                if canonical[name.casefold()] not in graph:
                    graph.append(canonical[name.casefold()])
            else:
                raise IdentityError(
                    "invalid_scope",
                    70011,
                    "The provided value for the input parameter 'scope' is not valid. "
                    f"The scope '{item}' does not exist on the resource '{GRAPH_APP_ID}'.",
                )
        return graph, oidc

    @staticmethod
    def _claims_nbf(raw: str | None) -> str:
        if not raw:
            return ""
        try:
            claims = json.loads(raw)
            nbf = claims.get("access_token", {}).get("nbf", {}).get("value", "")
        except (ValueError, AttributeError) as exc:
            raise IdentityError(
                "invalid_request",
                90014,
                "The request was rejected because the 'claims' parameter is not valid JSON.",
            ) from exc
        return str(nbf) if nbf else ""

    def _sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self._kid, "x5t": self._kid}
        head = b64url(json.dumps(header, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = self._key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(sig)}"

    def _new_refresh_token(self, user: User, graph: list[str], oidc: list[str]) -> str:
        token = self._remember("1.AXsA" + secrets.token_urlsafe(96))
        with self._lock:
            self._state.refresh_tokens[_sha256(token)] = {
                "user_id": user.id,
                "client_id": self.client_id,
                "scopes": graph,
                "oidc": oidc,
                "issued": self.clock(),
                "expires": self.clock() + self.refresh_token_lifetime,
                "revoked": False,
            }
            self._save_state()
        return token

    def _token_response(
        self,
        user: User,
        graph: list[str],
        oidc: list[str],
        *,
        nonce: str = "",
        claims_nbf: str = "",
        client_info: bool = False,
    ) -> dict[str, Any]:
        now = int(self.clock())
        with self._lock:
            generation = self._state.generation
            consented = set(self._state.consents.get(user.id, []))
            self._state.consents[user.id] = sorted(consented | set(graph))
        scp = graph + [s for s in ("openid", "profile", "email") if s in oidc]
        at_claims: dict[str, Any] = {
            "aud": GRAPH_RESOURCE,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_token_lifetime,
            "appid": self.client_id,
            "azp": self.client_id,
            "name": user.displayName,
            "oid": user.id,
            "preferred_username": user.userPrincipalName,
            "upn": user.userPrincipalName,
            "unique_name": user.userPrincipalName,
            "scp": " ".join(scp),
            "sub": b64url(hashlib.sha256(f"{user.id}|{GRAPH_APP_ID}".encode()).digest()),
            "tid": self.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
            "xms_sbx_gen": generation,
        }
        if claims_nbf:
            at_claims["xms_sbx_nbf"] = claims_nbf
        result: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(scp),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": self._remember(self._sign(at_claims)),
        }
        if "offline_access" in oidc:
            result["refresh_token"] = self._new_refresh_token(user, graph, oidc)
        if "openid" in oidc:
            id_claims: dict[str, Any] = {
                "ver": "2.0",
                "iss": self.issuer,
                "aud": self.client_id,
                "sub": b64url(hashlib.sha256(f"{user.id}|{self.client_id}".encode()).digest()),
                "oid": user.id,
                "tid": self.tenant_id,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": user.displayName,
                "preferred_username": user.userPrincipalName,
                "aio": b64url(secrets.token_bytes(24)),
                "rh": "0.AXsA" + b64url(secrets.token_bytes(12)),
                "uti": b64url(secrets.token_bytes(16)),
            }
            if "email" in oidc:
                id_claims["email"] = user.mail
            if nonce:
                id_claims["nonce"] = nonce
            result["id_token"] = self._remember(self._sign(id_claims))
        if client_info:
            info = json.dumps({"uid": user.id, "utid": self.tenant_id}).encode()
            result["client_info"] = b64url(info)
        return result

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_FORM_BYTES
        request.max_form_memory_size = MAX_FORM_BYTES
        correlation = request.headers.get("client-request-id", "") or str(uuid.uuid4())
        try:
            adapter = self._url_map.bind_to_environ(environ)
            endpoint, args = adapter.match()
            response = getattr(self, f"_on_{endpoint}")(request, **args)
        except IdentityError as exc:
            response = self._oauth_error(exc, correlation)
        except HTTPException as exc:
            if exc.code == 413:
                response = self._oauth_error(
                    IdentityError("invalid_request", 90033, "The request is too large.", 413),
                    correlation,
                )
            elif exc.code == 404:
                response = self._oauth_error(
                    IdentityError("invalid_request", 900561, "The endpoint was not found.", 404),
                    correlation,
                )
            else:
                response = self._oauth_error(
                    IdentityError(
                        "invalid_request", 9002313, str(exc.description), exc.code or 400
                    ),
                    correlation,
                )
        except Exception:  # a bug: log it, answer in the OAuth shape, never a traceback
            log.exception("identity sandbox: unexpected error for %s", request.path)
            response = self._oauth_error(
                IdentityError("server_error", 90033, "An internal error occurred.", 500),
                correlation,
            )
        response.headers["client-request-id"] = correlation
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        response.headers["Cache-Control"] = "no-store, no-cache"
        return response(environ, start_response)

    def _oauth_error(self, exc: IdentityError, correlation: str) -> Response:
        trace = str(uuid.uuid4())
        stamp = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        timestamp = stamp.strftime("%Y-%m-%d %H:%M:%SZ")
        body: dict[str, Any] = {
            "error": exc.error,
            "error_description": (
                f"AADSTS{exc.code}: {exc.description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {timestamp}"
            ),
            "error_codes": [exc.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.base_url}/error?code={exc.code}",
        }
        if exc.suberror:
            body["suberror"] = exc.suberror
        return Response(json.dumps(body), status=exc.status, content_type="application/json")

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")

    @staticmethod
    def _html(text: str, status: int = 200) -> Response:
        return Response(text, status=status, content_type="text/html; charset=utf-8")

    def _on_error_page(self, request: Request) -> Response:
        code = html.escape(request.args.get("code", ""))
        return self._html(f"<html><body><h1>Sandbox sign-in error AADSTS{code}</h1></body></html>")

    def _on_discovery(self, request: Request, tenant: str) -> Response:
        self._check_tenant(tenant)
        base = f"{self.base_url}/{tenant}"
        specific = tenant.casefold() not in ("common", "organizations")
        tid = self.tenant_id if specific else "{tenantid}"
        return self._json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self.base_url}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/openid/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "email",
                    "oid",
                ],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "sandbox.local",
                "cloud_graph_host_name": "graph.sandbox.local",
                "msgraph_host": "graph.sandbox.local",
                "rbac_url": "https://pas.sandbox.local",
            }
        )

    def _on_keys(self, request: Request, tenant: str) -> Response:
        self._check_tenant(tenant)
        return self._json({"keys": [dict(self._jwk, issuer=self.issuer)]})

    def _on_logout(self, request: Request, tenant: str) -> Response:
        return self._html("<html><body><p>You have signed out of the sandbox.</p></body></html>")

    # ------------------------------------------------------------------ authorize

    def _on_authorize(self, request: Request, tenant: str) -> Response:
        params = dict((request.form if request.method == "POST" else request.args).items())
        try:
            self._check_tenant(tenant)
            self._check_client(params.get("client_id"))
        except IdentityError as exc:
            # Entra shows these on its own page: there is no trusted redirect URI yet.
            return self._error_page(exc, 400)
        redirect_uri = params.get("redirect_uri", "")
        if not _loopback_redirect(redirect_uri):
            return self._error_page(
                IdentityError(
                    "invalid_request",
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the request does not match "
                    f"the redirect URIs configured for the application '{self.client_id}'.",
                ),
                400,
            )
        try:
            if params.get("response_type") != "code":
                raise IdentityError(
                    "unsupported_response_type",
                    700054,
                    f"response_type '{params.get('response_type', '')}' is not enabled for "
                    "the application.",
                )
            self._parse_scopes(params.get("scope"))
            self._claims_nbf(params.get("claims"))
            method = params.get(
                "code_challenge_method", "plain" if params.get("code_challenge") else ""
            )
            if method and method not in ("S256", "plain"):
                raise IdentityError(
                    "invalid_request",
                    501491,
                    f"Invalid code_challenge_method '{method}'. Supported: S256, plain.",
                )
        except IdentityError as exc:
            return self._redirect(params, {"error": exc.error, "error_description": str(exc)})
        if not self.auto_approve:
            return self._account_picker(params, tenant)
        return self._complete_sign_in(params, self._pick_user(params.get("login_hint")))

    def _complete_sign_in(self, params: dict[str, str], user: User) -> Response:
        graph, oidc = self._parse_scopes(params.get("scope"))
        code = self._remember("1.AXsA" + secrets.token_urlsafe(160))
        challenge = params.get("code_challenge", "")
        with self._lock:
            self._codes[code] = _AuthCode(
                client_id=self.client_id,
                redirect_uri=params.get("redirect_uri", ""),
                user_id=user.id,
                scopes=graph,
                oidc=oidc,
                nonce=params.get("nonce", ""),
                challenge=challenge,
                method=params.get("code_challenge_method", "plain") if challenge else "",
                claims_nbf=self._claims_nbf(params.get("claims")),
                expires=self.clock() + 600,
            )
        answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        if params.get("client_info") == "1":
            answer["client_info"] = b64url(
                json.dumps({"uid": user.id, "utid": self.tenant_id}).encode()
            )
        answer["session_state"] = str(uuid.uuid4())
        return self._redirect(params, answer)

    def _redirect(self, params: dict[str, str], answer: dict[str, str]) -> Response:
        if "state" in params:
            answer.setdefault("state", params["state"])
        uri = params.get("redirect_uri", "")
        mode = params.get("response_mode", "query")
        if mode == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}" />'
                for k, v in answer.items()
            )
            page = (
                "<html><head><title>Working...</title></head><body>"
                f'<form method="POST" name="hiddenform" action="{html.escape(uri)}">{fields}'
                "<noscript><p>Script is disabled. Click Submit to continue.</p>"
                '<input type="submit" value="Submit" /></noscript></form>'
                '<script language="javascript">document.forms[0].submit();</script>'
                "</body></html>"
            )
            return self._html(page)
        sep = "#" if mode == "fragment" else ("&" if "?" in uri else "?")
        response = Response("", status=302)
        response.headers["Location"] = f"{uri}{sep}{urlencode(answer)}"
        return response

    def _error_page(self, exc: IdentityError, status: int) -> Response:
        return self._html(
            "<html><head><title>Sign in to your account</title></head><body>"
            "<h1>Sorry, but we're having trouble signing you in.</h1>"
            f"<p>AADSTS{exc.code}: {html.escape(exc.description)}</p></body></html>",
            status,
        )

    def _account_picker(self, params: dict[str, str], tenant: str) -> Response:
        rid = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[rid] = _PendingSignIn(params=params, tenant=tenant, created=self.clock())
        buttons = "".join(
            f'<button type="submit" name="upn" value="{html.escape(u.userPrincipalName)}">'
            f"{html.escape(u.displayName)} ({html.escape(u.userPrincipalName)})</button><br/>"
            for u in self.directory.accounts
        )
        page = (
            "<html><head><title>Pick an account</title></head><body>"
            "<h1>Sandbox sign-in: pick an account</h1>"
            f'<form method="POST" action="/{html.escape(tenant)}/sandbox/signin">'
            f'<input type="hidden" name="request" value="{rid}" />{buttons}'
            '<button type="submit" name="decision" value="cancel">Cancel</button>'
            "</form></body></html>"
        )
        return self._html(page)

    def _on_signin(self, request: Request, tenant: str) -> Response:
        with self._lock:
            pending = self._pending.pop(request.form.get("request", ""), None)
        if pending is None:
            return self._error_page(
                IdentityError("invalid_request", 90015, "The sign-in request was not found."), 400
            )
        if request.form.get("decision") == "cancel":
            return self._redirect(
                pending.params,
                {
                    "error": "access_denied",
                    "error_description": "AADSTS65004: User declined to consent to access the app.",
                },
            )
        user = self.directory.get(request.form.get("upn", ""))
        if user is None or not user.can_sign_in:
            return self._error_page(
                IdentityError("invalid_request", 50034, "The user account does not exist."), 400
            )
        return self._complete_sign_in(pending.params, user)

    # ------------------------------------------------------------------ device code

    def _on_devicecode(self, request: Request, tenant: str) -> Response:
        if request.method != "POST":
            raise IdentityError(
                "invalid_request",
                900561,
                f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} "
                "request.",
            )
        self._check_tenant(tenant)
        self._check_client(request.form.get("client_id"))
        graph, oidc = self._parse_scopes(request.form.get("scope"))
        claims_nbf = self._claims_nbf(request.form.get("claims"))
        device_code = self._remember("DAQABAAEAAA" + secrets.token_urlsafe(96))
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        rec = _DeviceCode(
            user_code=user_code,
            client_id=self.client_id,
            scopes=graph,
            oidc=oidc,
            claims_nbf=claims_nbf,
            expires=self.clock() + self.device_code_lifetime,
        )
        if self.auto_approve:
            rec.status = "approved"
            rec.user_id = self.directory.senders[0].id
        with self._lock:
            self._device[device_code] = rec
        verification = f"{self.base_url}/devicelogin"
        return self._json(
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": verification,
                "expires_in": self.device_code_lifetime,
                "interval": self.device_code_interval,
                "message": (
                    f"To sign in, use a web browser to open the page {verification} and enter "
                    f"the code {user_code} to authenticate."
                ),
            }
        )

    def _on_devicelogin(self, request: Request) -> Response:
        if request.method == "POST":
            code = request.form.get("code", "")
            try:
                if request.form.get("decision") == "decline":
                    self.decline_device_code(code)
                else:
                    self.approve_device_code(code, request.form.get("upn"))
            except ValueError:
                return self._html("<html><body><p>That code was not found.</p></body></html>", 400)
            return self._html("<html><body><p>Done. You can close this window.</p></body></html>")
        options = "".join(
            f'<option value="{html.escape(u.userPrincipalName)}">'
            f"{html.escape(u.displayName)}</option>"
            for u in self.directory.accounts
        )
        return self._html(
            "<html><head><title>Enter code</title></head><body><h1>Sandbox device sign-in</h1>"
            '<form method="POST"><input name="code" autocomplete="off" />'
            f'<select name="upn">{options}</select>'
            '<button type="submit" name="decision" value="approve">Sign in</button>'
            '<button type="submit" name="decision" value="decline">Decline</button>'
            "</form></body></html>"
        )

    # ------------------------------------------------------------------ token

    def _on_token(self, request: Request, tenant: str) -> Response:
        if request.method != "POST":
            raise IdentityError(
                "invalid_request",
                900561,
                f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} "
                "request.",
            )
        self._check_tenant(tenant)
        form = request.form
        grant = form.get("grant_type")
        if not grant:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        self._check_client(form.get("client_id"))
        client_info = form.get("client_info") == "1"
        if grant == "authorization_code":
            return self._json(self._grant_code(form, client_info))
        if grant == "refresh_token":
            return self._json(self._grant_refresh(form, client_info))
        if grant in (DEVICE_CODE_GRANT, "device_code"):
            return self._json(self._grant_device(form, client_info))
        raise IdentityError(
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )

    def _grant_code(self, form: Any, client_info: bool) -> dict[str, Any]:
        code = form.get("code", "")
        if not code:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code'.",
            )
        with self._lock:
            rec = self._codes.get(code)
            if rec is None:
                raise IdentityError(
                    "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
                )
            if rec.used:
                raise IdentityError(
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new "
                    "valid code or use an existing refresh token.",
                )
            if self.clock() > rec.expires:
                raise IdentityError(
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this user "
                    "and resource.",
                )
            if form.get("redirect_uri", "") != rec.redirect_uri:
                raise IdentityError(
                    "invalid_grant",
                    50011,
                    "The redirect URI specified in the request does not match the redirect "
                    "URI used to obtain the authorization code.",
                )
            if rec.challenge:
                verifier = form.get("code_verifier", "")
                if not verifier:
                    raise IdentityError(
                        "invalid_request",
                        50148,
                        "The code_verifier does not match the code_challenge supplied in the "
                        "authorization request for PKCE.",
                    )
                derived = (
                    b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
                    if rec.method == "S256"
                    else verifier
                )
                if not secrets.compare_digest(derived, rec.challenge):
                    raise IdentityError(
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the "
                        "authorization request.",
                    )
            rec.used = True
        user = self.directory.get(rec.user_id)
        assert user is not None
        return self._token_response(
            user,
            rec.scopes,
            rec.oidc,
            nonce=rec.nonce,
            claims_nbf=rec.claims_nbf,
            client_info=client_info,
        )

    def _grant_refresh(self, form: Any, client_info: bool) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        if not token:
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            )
        graph, oidc = self._parse_scopes(form.get("scope"))
        claims_nbf = self._claims_nbf(form.get("claims"))
        with self._lock:
            rec = self._state.refresh_tokens.get(_sha256(token))
            if rec is None:
                raise IdentityError(
                    "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
                )
            if rec["revoked"]:
                raise IdentityError(
                    "invalid_grant",
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth "
                    "token is needed. The user might have changed or reset their password.",
                    suberror="bad_token",
                )
            if self.clock() > rec["expires"]:
                raise IdentityError(
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity.",
                    suberror="bad_token",
                )
            consented = set(self._state.consents.get(rec["user_id"], [])) | set(rec["scopes"])
        missing = [s for s in graph if s not in consented]
        if missing:
            raise IdentityError(
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{self.client_id}' named 'Video Messaging'. Send an interactive authorization "
                "request for this user and resource.",
                suberror="consent_required",
            )
        user = self.directory.get(rec["user_id"])
        assert user is not None
        if "offline_access" not in oidc:
            oidc = [*oidc, "offline_access"]  # a refresh grant always returns a new RT
        return self._token_response(
            user, graph, oidc, claims_nbf=claims_nbf, client_info=client_info
        )

    def _grant_device(self, form: Any, client_info: bool) -> dict[str, Any]:
        code = form.get("device_code", "") or form.get("code", "")
        with self._lock:
            rec = self._device.get(code)
            if rec is None:
                raise IdentityError(
                    "bad_verification_code",
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                )
            if self.clock() > rec.expires:
                raise IdentityError("expired_token", 70019, "Verification code expired.")
            if rec.status == "pending":
                raise IdentityError(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            if rec.status == "declined":
                raise IdentityError(
                    "authorization_declined", 70000, "The user declined the authorization request."
                )
            if rec.status == "redeemed":
                raise IdentityError("invalid_grant", 54005, "The device code was already redeemed.")
            rec.status = "redeemed"
        user = self.directory.get(rec.user_id)
        assert user is not None
        return self._token_response(
            user, rec.scopes, rec.oidc, claims_nbf=rec.claims_nbf, client_info=client_info
        )


def _same_issuer(iss: Any, ours: str) -> bool:
    """Our issuer, possibly from an earlier run of this data dir on another port.

    The signing key persists across restarts, so a token issued before a restart is
    still ours even though the server's port (part of the issuer URL) changed.
    """
    if not isinstance(iss, str):
        return False
    if iss == ours:
        return True
    try:
        a, b = urlsplit(iss), urlsplit(ours)
    except ValueError:
        return False
    return a.scheme == b.scheme and a.hostname == b.hostname and a.path == b.path


def _loopback_redirect(uri: str) -> bool:
    """Entra lets public clients use any port on a loopback ``http://`` redirect URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in ("localhost", "127.0.0.1", "::1")
        and (port is None or 0 < port < 65536)
    )


def scopes_of(claims: dict[str, Any]) -> set[str]:
    """The delegated scopes an access token carries, case-folded."""
    scp = claims.get("scp", "")
    return {s.casefold() for s in scp.split()} if isinstance(scp, str) else set()


def has_any_scope(claims: dict[str, Any], wanted: Iterable[str]) -> bool:
    have = scopes_of(claims)
    return any(w.casefold() in have for w in wanted)
