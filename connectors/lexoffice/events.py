"""lexware office's webhook callbacks: the signature (fact sheet, "Webhook signature") and
the events as the product reads them.

Each callback is one event `{organizationId, eventType, resourceId, eventDate}`, signed with
Lexware's RSA key (base64 RSA-SHA512, PKCS#1 v1.5, over the raw body). The key is fetched from
where Lexware publishes it and cached for a day; when the fetch fails, the copy printed in the
fact sheet is used. No timestamp is signed for replay protection and Lexware retries the same
body for up to two days, so an old event is not refused: it is de-duplicated by its event id
and the product always reads the voucher again.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Mapping

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.cache import cache

from connectors import errors
from connectors.lexoffice.provider import PROVIDER
from connectors.registry import vendor_url
from connectors.shapes import DocumentChange, DocumentKind, IncomingEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lxo-Signature"
KEY_PATH = "/webhookSignature/public/public_key.pub"
KEY_CACHE_SECONDS = 24 * 3600
# After a fetch failed, the pinned copy stands in this long before the next try.
PINNED_CACHE_SECONDS = 600
# A signature that fails with a key fetched this long ago fetches it again once (Lexware
# documents no rotation; this lets a new key in without a fetch per forged delivery).
REFETCH_AFTER_SECONDS = 300
FETCH_TIMEOUT = 10.0
# The events the product subscribes to, and the voucher each is about (payment.changed may
# also name a credit note or bookkeeping voucher; the product only knows its invoices).
DOCUMENT_EVENTS = {
    "quotation.status.changed": DocumentKind.QUOTE,
    "invoice.status.changed": DocumentKind.INVOICE,
    "payment.changed": DocumentKind.INVOICE,
}
EVENT_FIELDS = ("organizationId", "eventType", "resourceId", "eventDate")

# Lexware's key as the fact sheet prints it (a third-party copy, see vendor-specs/README.md);
# used only when the published file cannot be fetched.
PINNED_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAtCkZXZqT2zFRmA83KsBC
tQSv9t+AaWiZpRWvzE4wiQEh0aHzNYkT/DlP419pngqoLxnqW9SsgWfKOG3utoEV
z+Lru9odZntW/n/yaRK3f0AcMtuWs/Z1PZ4BbN/RlFYyqlPg0VfuAvZMAa+J9WAl
Fuy0T4Y0EdO0d+EL8BpzSLqj3XLI+YuK4hUhlTOxHmdDtNUkugnT9b9khb+oPDmB
3yxRP6Rmo2qo6waSc+pihCdOiZKzwA4fA1HT8DM54OaNQ4qd9NRf5uECijFlpQu6
vZdW7Z+LZ8HTgGQVSsJdCzUtM1wiWOERrHvd8IpBMvUAvGM/qaJnAmwsEr4J/El4
yCmur8wwYBtSUH0Xue42YysdmSS0pOMMUAAvr70HQMDHagYkErMtu6FAyAmPz8p/
tAqJJpwAhxITbnc5WsmZOu0Ke255nXQ/2Go1TKv+45mSb7RLsvpmhVZ4nFByFt24
vG6IwNReuLhJJL468jrdTpxyZRn0QqkxiQV7jDd9Dp1NVd/W3+n86Aos9LnJa+ut
kN+jOOWmJdJjnQetJlbDVg3ex+XHVmCjiRYggCGPlpXVJwdEUNGzxhPGKjxmeiQT
ahwFA9iHtwBw7yK5VfM/hA+JeF2FXYhTdehfClAQt1YCYXkgUEFxm9idRdBoCY6U
bmFUXQLdi7tZyDor8Rxoq2MCAwEAAQ==
-----END PUBLIC KEY-----
"""


def key_url() -> str:
    """Where the key is published; the lexoffice sandbox when the product runs on sandboxes."""
    return vendor_url(PROVIDER, "keys") + KEY_PATH


def key_cache_key(url: str) -> str:
    return "lexoffice:webhook-key:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _load(pem: bytes) -> rsa.RSAPublicKey | None:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


def _fetch(url: str) -> bytes | None:
    try:
        answer = requests.get(url, timeout=FETCH_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException as failure:
        logger.warning("lexware office: webhook key not fetched (%s)", type(failure).__name__)
        return None
    if _load(answer.content) is None:
        logger.warning("lexware office: the published webhook key is no RSA public key")
        return None
    return answer.content


def public_key(*, refetch: bool = False) -> tuple[rsa.RSAPublicKey, bool]:
    """Lexware's key, and whether a later fetch could bring another one. `refetch`: the
    cached key failed a signature; fetch again unless it was fetched only just now."""
    url = key_url()
    cached = cache.get(key_cache_key(url))
    stale = cached is not None and time.time() - cached["at"] > REFETCH_AFTER_SECONDS
    if cached is None or (refetch and stale):
        fetched = _fetch(url)
        pem = fetched or PINNED_PUBLIC_KEY
        cached = {"pem": pem, "at": time.time()}
        seconds = KEY_CACHE_SECONDS if fetched else PINNED_CACHE_SECONDS
        cache.set(key_cache_key(url), cached, seconds)
    key = _load(cached["pem"])
    assert key is not None, "only an RSA key is cached"
    return key, time.time() - cached["at"] > REFETCH_AFTER_SECONDS


def verify(body: bytes, headers: Mapping[str, str]) -> None:
    """Raises ForgedEvent unless `X-Lxo-Signature` signs the raw `body`."""
    wanted = SIGNATURE_HEADER.lower()
    header = next((v for k, v in headers.items() if k.lower() == wanted), "")
    try:
        signature = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not signature:
        raise errors.ForgedEvent("lexware office: callback without a readable signature.")
    key, may_refetch = public_key()
    if _holds(key, signature, body):
        return
    if may_refetch and _holds(public_key(refetch=True)[0], signature, body):
        return
    raise errors.ForgedEvent("lexware office: the callback's signature does not hold.")


def _holds(key: rsa.RSAPublicKey, signature: bytes, body: bytes) -> bool:
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        return False
    return True


def read(body: bytes, headers: Mapping[str, str]) -> list[IncomingEvent]:
    """The one event of a verified callback."""
    verify(body, headers)
    try:
        payload = json.loads(body)
    except ValueError:
        raise errors.PermanentError("lexware office: the callback is no JSON.") from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(f), str) and payload[f] for f in EVENT_FIELDS
    ):
        raise errors.PermanentError("lexware office: the callback lacks an event's fields.")
    event_type = payload["eventType"].lower()
    resource_id, event_date = payload["resourceId"], payload["eventDate"]
    kind = DOCUMENT_EVENTS.get(event_type)
    # Lexware gives no event id: the event's identity is its type, resource and date.
    identity = f"{event_type}|{resource_id}|{event_date}"
    return [
        IncomingEvent(
            account_id=payload["organizationId"],
            event_type=event_type,
            event_id=hashlib.sha256(identity.encode()).hexdigest(),
            payload=payload,
            change=None if kind is None else DocumentChange(kind, resource_id, identity),
            occurred_at=_moment(event_date),
        )
    ]


def _moment(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
