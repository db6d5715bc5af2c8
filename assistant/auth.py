"""Who is calling: API keys, origin-bound widget tokens, and the guard against guessing keys.

Only a valid credential chooses a rate-limit bucket: an API key has its own; a widget token
counts against its origin and client address together (anyone can mint tokens, so a token must
not buy a client a fresh bucket); anything else counts against the client address. Failed
authentications are counted per address too, and an address over `ASSISTANT_AUTH_FAIL_LIMIT`
has every credential it sends refused for a while, right or wrong, so that guessing keys gains
nothing. An expired token is not a failure: a tab left open overnight is no attack.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from typing import Any

import jwt

from assistant.config import Settings
from assistant.errors import ConfigError

TOKEN_AUDIENCE = "assistant-widget"
# Claims a widget token must carry: a token without an expiry would be good forever.
REQUIRED_CLAIMS = ("exp", "iat", "aud", "origin")


def parse_rate(value: str, setting: str) -> Any:
    """A `limits` rate item such as "120/minute", or a ConfigError naming the setting."""
    from limits import parse

    try:
        return parse(value)
    except ValueError:
        raise ConfigError(f"{setting} must be a rate such as 120/minute or 10/second, got "
                          f"{value!r}") from None


def client_address(client: tuple[str, int] | None) -> str:
    """The IP address of an ASGI scope's `client` (after any trusted proxy's rewrite)."""
    return client[0] if client else "unknown"


def retry_seconds(limiter: Any, limit: Any, key: str) -> int:
    """Whole seconds until `key` may hit `limit` again (at least 1)."""
    stats = limiter.get_window_stats(limit, key)
    return max(1, math.ceil(stats.reset_time - time.time()))


def bearer_value(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer X` header value, if any."""
    scheme, _, value = (header or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    """The keys, widget-token secret and failed-attempt counts of one running service."""

    def __init__(self, settings: Settings) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.settings = settings
        self._keys: tuple[int | None, frozenset[str]] | None = None
        self.keys()  # a missing keys file fails now, not at the first request
        # Configured, or random for this process (its tokens die with it).
        self.secret = settings.token_secret or secrets.token_urlsafe(32)
        self.fail_limit = parse_rate(settings.auth_fail_limit, "ASSISTANT_AUTH_FAIL_LIMIT")
        self._failures = MovingWindowRateLimiter(MemoryStorage())

    # --- API keys and tokens ------------------------------------------------------------------

    def keys(self) -> frozenset[str]:
        """The configured API keys; the keys file is read again only when it changes (every
        request checks a key, some twice: the rate limiter and the route)."""
        path = self.settings.api_keys_file
        try:
            stamp = path.stat().st_mtime_ns if path is not None else None
        except OSError:
            stamp = -1  # gone: settings.keys() says so
        if self._keys is None or self._keys[0] != stamp:
            self._keys = (stamp, self.settings.keys())
        return self._keys[1]

    def is_api_key(self, credential: str | None) -> bool:
        """Constant-time check of a credential against the configured keys."""
        if not credential:
            return False
        return any(hmac.compare_digest(credential.encode(), key.encode()) for key in self.keys())

    def issue_token(self, origin: str) -> tuple[str, int]:
        """A short-lived read token bound to `origin`; returns (token, lifetime in seconds)."""
        ttl = self.settings.token_ttl_seconds
        now = int(time.time())
        claims = {"aud": TOKEN_AUDIENCE, "origin": origin, "scope": "read", "iat": now,
                  "exp": now + ttl}
        return jwt.encode(claims, self.secret, algorithm="HS256"), ttl

    def read_token(self, token: str | None) -> tuple[dict[str, Any] | None, bool]:
        """(the claims of a valid widget token or None, whether it was ours but expired)."""
        if not token:
            return None, False
        try:
            return jwt.decode(token, self.secret, algorithms=["HS256"], audience=TOKEN_AUDIENCE,
                              options={"require": list(REQUIRED_CLAIMS)}), False
        except jwt.ExpiredSignatureError:
            return None, True
        except jwt.PyJWTError:
            return None, False

    def caller(self, credential: str | None, address: str) -> str | None:
        """A rate-limit bucket for a valid key or token; None for no or a wrong credential."""
        if not credential:
            return None
        if self.is_api_key(credential):
            return "key:" + hashlib.sha256(credential.encode()).hexdigest()[:16]
        claims, _ = self.read_token(credential)
        if claims is not None:
            return f"token:{claims.get('origin')}:{address}"
        return None

    # --- failed attempts ----------------------------------------------------------------------

    def record_failure(self, address: str) -> None:
        """Count one failed authentication from a client address."""
        self._failures.hit(self.fail_limit, address)

    def locked_out(self, address: str) -> int | None:
        """Seconds until `address` may authenticate again, or None when it may now."""
        if self._failures.test(self.fail_limit, address):
            return None
        return retry_seconds(self._failures, self.fail_limit, address)
