"""Credentials: password hashes, API tokens and JSON Web Tokens.

Passwords are hashed with scrypt (Percival 2009; RFC 7914) with a random 16-byte salt,
``n = 2**14, r = 8, p = 1``, stored as ``scrypt$n$r$p$salt_hex$hash_hex``.

API tokens look like ``rct_<id>_<secret>``: a 12-hex-digit public id (the lookup key) and a
32-byte URL-safe random secret. Only SHA-256 of the secret is stored: the secret has 256 bits of
entropy, so a slow hash adds nothing (unlike passwords). A token is shown once, when it is made.

Access tokens from the OAuth2 password flow are JSON Web Tokens (RFC 7519) signed with HS256 and
a per-store random key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

TOKEN_PREFIX = "rct_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt hash of ``password`` with a fresh salt, as one self-describing string."""
    salt = secrets.token_bytes(16)
    h = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${h.hex()}"


_DUMMY: list[str] = []


def dummy_hash() -> str:
    """A hash of a random password, checked when a sign-in names no usable account (equal timing)."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def check_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored`` (constant-time compare)."""
    if not stored or not stored.startswith("scrypt$"):
        return False
    try:
        _, n, r, p, salt, want = stored.split("$")
        h = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(h.hex(), want)


def new_api_token() -> tuple[str, str, str]:
    """A new API token: ``(token, token_id, secret_hash)``; store the id and the hash only."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}{token_id}_{secret}", token_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of an API token's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed API token, else ``None``."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    body = token[len(TOKEN_PREFIX) :]
    token_id, sep, secret = body.partition("_")
    if not sep or len(token_id) != 12 or not secret:
        return None
    return token_id, secret


def issue_jwt(key: str, username: str, *, ttl_s: int = 3600, **claims: Any) -> str:
    """An HS256-signed JWT for ``username`` valid for ``ttl_s`` seconds."""
    import jwt

    now = int(time.time())
    payload = {"sub": username, "iat": now, "exp": now + int(ttl_s), "jti": secrets.token_hex(8), **claims}
    return jwt.encode(payload, key, algorithm="HS256")


def read_jwt(key: str, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired JWT signed with ``key``; ``None`` otherwise."""
    import jwt

    try:
        return jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
