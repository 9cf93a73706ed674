"""Google's OAuth 2.0 token endpoint for service accounts (the JWT bearer grant).

google-auth's ``service_account.Credentials`` signs a JWT (RS256, ``kid`` = the key's
``private_key_id``, ``iss`` = the account's e-mail, ``aud`` = Google's token endpoint
``https://oauth2.googleapis.com/token`` whatever the key file's ``token_uri``) and
posts it to ``token_uri`` as ``grant_type=urn:ietf:params:oauth:
grant-type:jwt-bearer&assertion=<jwt>``. This emulator verifies that JWT against the
public half of the account's key and answers ``{access_token, expires_in,
token_type}``; refusals use Google's body ``{"error": "invalid_grant",
"error_description": ...}`` with status 400, so google-auth raises ``RefreshError``.

The sandbox makes its own service account (an RSA key and a key file pointing
``token_uri`` at the sandbox), so google-auth works unchanged against it.

Token lifetimes use real time by default, not the sandbox's simulated clock: the JWT
``iat``/``exp`` google-auth writes come from the machine's clock.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .web import Request, Response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audiences Google's token endpoint accepts; google-auth always sends the first.
GOOGLE_AUDIENCES = frozenset(
    {"https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token"}
)
TOKEN_LIFETIME = 3600
MAX_ASSERTION_LIFETIME = 3600  # Google refuses JWTs valid for more than an hour
CLOCK_SKEW = 300

# Google's own wording for the refusals google-auth surfaces in RefreshError.
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
UNKNOWN_ACCOUNT = "Invalid grant: account not found"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ServiceAccount:
    """A service account and its key, as ``gcloud iam service-accounts keys create`` gives."""

    client_email: str
    private_key_id: str
    private_key_pem: str
    client_id: str
    project_id: str

    @classmethod
    def generate(
        cls,
        client_email: str = "journey-sync@sandbox-project.iam.gserviceaccount.com",
        project_id: str = "sandbox-project",
    ) -> ServiceAccount:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        return cls(
            client_email=client_email,
            private_key_id=secrets.token_hex(20),
            private_key_pem=pem,
            client_id=str(secrets.randbelow(10**20) + 10**20),
            project_id=project_id,
        )

    def public_key(self) -> rsa.RSAPublicKey:
        return _public_key(self.private_key_pem)

    def key_info(self, token_uri: str) -> dict[str, str]:
        """The key file's JSON, with ``token_uri`` pointing at the sandbox."""
        encoded = self.client_email.replace("@", "%40")
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{encoded}",
            "universe_domain": "googleapis.com",
        }

    def write_key_file(self, path: Path, token_uri: str) -> Path:
        path.write_text(json.dumps(self.key_info(token_uri), indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)  # it holds a private key
        return path


@lru_cache(maxsize=16)
def _public_key(private_key_pem: str) -> rsa.RSAPublicKey:
    # Loading a private key validates it (~0.1 s): once per key is enough.
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


@dataclass
class _Key:
    email: str
    public_key: rsa.RSAPublicKey
    revoked: bool = False


class OAuthServer:
    """``POST /token`` and the access tokens it has issued."""

    def __init__(
        self, *, now: Callable[[], float] = time.time, token_lifetime: int = TOKEN_LIFETIME
    ) -> None:
        self._now = now
        self._lifetime = token_lifetime
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}  # private_key_id -> key
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
        self.extra_audiences: set[str] = set()

    # -------------------------------------------------------------- accounts

    def register(self, account: ServiceAccount) -> None:
        with self._lock:
            self._keys[account.private_key_id] = _Key(account.client_email, account.public_key())

    def revoke_key(self, private_key_id: str) -> None:
        """Delete a key, as in the Cloud console: its JWTs are refused from now on."""
        with self._lock:
            self._keys[private_key_id].revoked = True

    def issue(self, email: str) -> str:
        """An access token for ``email`` without a JWT, for tests."""
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (email, self._now() + self._lifetime)
        return token

    # --------------------------------------------------------------- bearer

    def authenticate(self, bearer: str) -> str | None:
        """The e-mail behind an access token (or a self-signed JWT), None if invalid."""
        with self._lock:
            found = self._tokens.get(bearer)
        if found is not None:
            email, expiry = found
            return email if self._now() < expiry else None
        if bearer.count(".") == 2:
            # google-auth may call APIs with a self-signed JWT instead of an access token.
            try:
                claims = self._verify(bearer, audience=None)
            except _Refused:
                return None
            return str(claims["iss"])
        return None

    # ---------------------------------------------------------------- /token

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.json(405, {"error": "invalid_request", "error_description": "POST"})
        try:
            form = request.form()
        except ValueError:
            form = {}
        grant = form.get("grant_type", "")
        if grant != JWT_BEARER:
            return _refuse("unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion", "")
        if not assertion:
            return _refuse("invalid_request", "Missing required parameter: assertion")
        host = request.headers.get("host", "")
        audiences = {*GOOGLE_AUDIENCES, f"http://{host}/token", *self.extra_audiences}
        try:
            claims = self._verify(assertion, audience=audiences)
        except _Refused as refused:
            return _refuse("invalid_grant", refused.description)
        token = self.issue(str(claims["iss"]))
        return Response.json(
            200,
            {"access_token": token, "expires_in": self._lifetime, "token_type": "Bearer"},
            {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
        )

    def _verify(self, jwt: str, *, audience: set[str] | None) -> Mapping[str, Any]:
        try:
            header_b64, payload_b64, signature_b64 = jwt.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, UnicodeDecodeError):
            raise _Refused("Invalid JWT: unable to parse the assertion") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _Refused("Invalid JWT: unable to parse the assertion")
        if header.get("alg") != "RS256":
            raise _Refused(BAD_SIGNATURE)
        issuer = claims.get("iss")
        with self._lock:
            keys = [k for k in self._keys.values() if k.email == issuer]
            key = self._keys.get(str(header.get("kid", "")))
        if not keys:
            raise _Refused(UNKNOWN_ACCOUNT)
        candidates = [key] if key is not None and key.email == issuer else keys
        signed = f"{header_b64}.{payload_b64}".encode("ascii")
        if not any(not k.revoked and _signature_ok(k, signed, signature) for k in candidates):
            raise _Refused(BAD_SIGNATURE)  # also what a deleted key gets
        if audience is not None and claims.get("aud") not in audience:
            raise _Refused(
                "Invalid JWT: Failed audience check. The expected value was "
                + " or ".join(sorted(audience))
            )
        now = self._now()
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise _Refused(BAD_TIMES) from None
        if exp <= now or iat > now + CLOCK_SKEW or exp - iat > MAX_ASSERTION_LIFETIME:
            raise _Refused(BAD_TIMES)
        return claims


class _Refused(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _signature_ok(key: _Key, signed: bytes, signature: bytes) -> bool:
    try:
        key.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _refuse(error: str, description: str) -> Response:
    return Response.json(400, {"error": error, "error_description": description})
