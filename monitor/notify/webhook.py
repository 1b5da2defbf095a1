"""Sending a notice to a case's webhook, signed as Standard Webhooks specifies (https://www.standardwebhooks.com).

Each request carries `webhook-id` (the notice's message id, the same on every retry, so a receiver can
de-duplicate an attempt whose answer was lost), `webhook-timestamp` and `webhook-signature` (HMAC-SHA256 of
`id.timestamp.body` with the shared `whsec_` secret). Receivers verify with any Standard Webhooks library.

Failures are `SendError`s, classed as follows:

- 2xx: delivered.
- 408, 409, 425, 429 and every 5xx: the receiver is busy, racing or down; retried.
- any other 4xx (400, 401, 403, 404, 410 Gone, 413, 422…): the receiver refuses this request or this endpoint is
  gone, and sending the same signed body again will get the same answer; permanent, a person must look.
- 3xx: permanent. Redirects are never followed (a signed notice goes where the case says, nowhere else), so the
  endpoint's URL needs correcting.
- no answer in time, refused or reset connections, TLS failures: retried.
- a URL that is not absolute http(s) with a host: permanent.

Error messages name the endpoint by scheme, host and port only (a URL's path or query may hold a token) and
quote at most a short, single-line excerpt of the receiver's answer. The secret never appears anywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from standardwebhooks import Webhook

from monitor.notify.channel import SendError

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_EXCERPT_BYTES = 2048  # read no more of an answer than an error message could use
_EXCERPT_CHARS = 200


def new_secret() -> str:
    """A fresh signing secret, `whsec_` and 32 random bytes in base64, to give the receiver once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _check_secret(secret: str) -> None:
    # The standardwebhooks library decodes leniently (invalid characters are skipped), so a mangled secret
    # would sign with a different key and every receiver would refuse; checked strictly here instead. No
    # message quotes the secret.
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"the webhook secret must start with {SECRET_PREFIX!r} (make one with new_secret())")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not valid base64 after its prefix") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("the webhook secret must hold 24 to 64 bytes")


def _origin(url: str) -> str:
    """`https://host:port`: enough to say which endpoint failed without repeating a token from its path."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}"


def _excerpt(raw: bytes | str) -> str:
    """A short, single-line, printable quote of what the receiver answered."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\s]+", " ", text).strip()
    return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")


class WebhookChannel:
    """POSTs signed JSON notices; one instance per signing secret, safe to share between threads."""

    name = "webhook"

    def __init__(self, secret: str, *, timeout: float = 10.0, user_agent: str = "PortalWatch") -> None:
        _check_secret(secret)
        self._webhook = Webhook(secret)
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if not user_agent or re.search(r"[\x00-\x1f\x7f]", user_agent):
            raise ValueError("user_agent must be a non-empty single line")
        self.timeout = timeout
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"WebhookChannel(timeout={self.timeout}, user_agent={self.user_agent!r})"  # never the secret

    def send(self, url: str, *, message_id: str, payload: dict[str, Any], timestamp: datetime) -> None:
        """POST `payload` to `url`; return on a 2xx answer, raise SendError otherwise.

        `message_id` must be the same on every attempt at one notice. `timestamp` is when this attempt is
        made (receivers refuse a `webhook-timestamp` more than about five minutes from their clock, so a
        retry an hour later must not reuse the first attempt's); it must be timezone-aware. A ValueError or
        TypeError means the call itself was wrong (a naive timestamp, a payload JSON cannot hold).
        """
        origin = _origin(url)
        self._check_url(url, origin)
        if not message_id or any(ord(c) <= 32 or ord(c) >= 127 for c in message_id):
            raise ValueError("message_id must be printable ASCII without spaces")
        if timestamp.utcoffset() is None:
            raise ValueError("timestamp must be timezone-aware")
        # ASCII-only JSON: the bytes signed are the bytes sent, whatever charset a receiver assumes.
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        # Webhook.sign() *replaces* the zone with UTC instead of converting, so an aware non-UTC time would be
        # signed as a different instant than the header states; convert first.
        at = timestamp.astimezone(UTC)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(math.floor(at.timestamp())),
            "webhook-signature": self._webhook.sign(message_id, at, body),
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "Accept-Encoding": "identity",  # an error's excerpt is quoted as sent, never decompressed
        }

        started = time.monotonic()
        try:
            with requests.Session() as session:
                response = session.post(
                    url,
                    data=body.encode("ascii"),
                    headers=headers,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                    stream=True,  # the answer's body is read below, bounded in size and time
                )
                with response:
                    status, reason = response.status_code, _excerpt(response.reason or "")
                    if 200 <= status < 300:
                        return
                    excerpt = self._read_excerpt(response, started)
        except requests.exceptions.Timeout:
            # Read timeouts included: the receiver may have acted on it, and the retry's webhook-id says so.
            raise SendError(f"webhook {origin} did not answer within {self.timeout:g} s", permanent=False) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
            raise SendError(f"webhook URL for {origin} is not a valid http(s) URL", permanent=True) from None
        except requests.exceptions.InvalidHeader:
            raise SendError("webhook request headers were refused as invalid", permanent=True) from None
        except requests.exceptions.SSLError as exc:
            raise SendError(f"webhook {origin}: TLS failed: {_reason(exc)}", permanent=False) from None
        except requests.exceptions.ConnectionError as exc:
            raise SendError(f"webhook {origin}: connection failed: {_reason(exc)}", permanent=False) from None
        except requests.exceptions.RequestException as exc:
            raise SendError(f"webhook {origin}: {type(exc).__name__}", permanent=False) from None

        answered = f"webhook {origin} answered {status} {reason}".rstrip()
        if 300 <= status < 400:
            raise SendError(f"{answered}; redirects are not followed: correct the URL", permanent=True)
        permanent = 400 <= status < 500 and status not in _RETRYABLE_4XX
        raise SendError(f"{answered}: {excerpt}" if excerpt else answered, permanent=permanent)

    @staticmethod
    def _check_url(url: str, origin: str) -> None:
        """Refuse what no retry can fix before any connection: non-http(s) schemes, no host, spaces."""
        invalid = SendError(f"webhook URL for {origin} is not an absolute http(s) URL with a host", permanent=True)
        if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            raise invalid
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number
        except ValueError:
            raise invalid from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise invalid

    def _read_excerpt(self, response: requests.Response, started: float) -> str:
        """A little of the answer, for the error message, within what is left of the timeout.

        One read of at most a couple of kilobytes (read1, not read: read would wait for all of them, and a
        receiver trickling bytes could hold the send for as long as it liked).
        """
        remaining = self.timeout - (time.monotonic() - started)
        if remaining <= 0:
            return ""
        try:
            connection = response.raw.connection
            if connection is not None and connection.sock is not None:
                connection.sock.settimeout(remaining)
            raw = response.raw.read1(_EXCERPT_BYTES, decode_content=False)
        except Exception:  # a broken or slow body does not change what the status already said
            return ""
        return _excerpt(raw or b"")


def _reason(exc: BaseException) -> str:
    """What went wrong underneath, as the operating system or TLS library put it (`Connection refused`).

    Not requests' own message: it repeats the whole URL, path and query included, and a query may hold a token.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return _excerpt(str(current.strerror))
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        stack.extend(item for item in linked if isinstance(item, BaseException))
    return type(exc).__name__
