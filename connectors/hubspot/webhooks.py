"""HubSpot's webhook signatures, checked with hubspot-api-client's `Signature` helper.

HubSpot signs a delivery with the app's client secret in one of three versions: v3 (HMAC
over method, URI, body and timestamp, base64), or the older v1 (body) and v2 (method, URI and
body) as SHA-256 hex digests. The helper computes all three and compares in constant time;
what it leaves to the caller stays here: a timestamp in the future is as suspect as an old
one, and the URI it signed may reach us URL-decoded or not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from urllib.parse import unquote

from hubspot.exceptions import InvalidSignatureTimestampError, InvalidSignatureVersionError
from hubspot.utils.signature import Signature

# HubSpot's own limit for v3 (its docs: reject requests older than five minutes).
SIGNATURE_MAX_AGE_MS = 5 * 60 * 1000
# Milliseconds since 1970 in ASCII digits only: str.isdigit() also accepts "²" and "٣",
# which int() refuses or reads, and int() of more than 4,300 digits raises ValueError; 16
# digits reach far past any plausible clock.
_TIMESTAMP = re.compile(r"[0-9]{1,16}")


class BadSignature(Exception):
    pass


def verify_signature(
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    client_secret: str,
    now_ms: int | None = None,
) -> None:
    """Raises BadSignature unless the request carries a valid v3 signature (when present)
    or v1/v2 signature."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadSignature("body is not UTF-8") from exc
    v3 = headers.get("X-HubSpot-Signature-v3")
    if v3:
        timestamp = headers.get("X-HubSpot-Request-Timestamp", "")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise BadSignature("missing or malformed timestamp")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(now_ms - int(timestamp)) > SIGNATURE_MAX_AGE_MS:
            raise BadSignature("stale timestamp")
        # Clients differ on whether the signed URI is URL-decoded first: both are accepted.
        if any(
            _valid(v3, client_secret, text, candidate, method, "v3", timestamp)
            for candidate in {uri, unquote(uri)}
        ):
            return
        raise BadSignature("v3 mismatch")
    signature = headers.get("X-HubSpot-Signature")
    if not signature:
        raise BadSignature("no signature")
    version = headers.get("X-HubSpot-Signature-Version", "v1").lower()
    if version not in {"v1", "v2"}:
        raise BadSignature(f"unknown signature version {version}")
    if not _valid(signature.strip().lower(), client_secret, text, uri, method, version, None):
        raise BadSignature(f"{version} mismatch")


def _valid(
    signature: str,
    client_secret: str,
    body: str,
    uri: str,
    method: str,
    version: str,
    timestamp: str | None,
) -> bool:
    try:
        return bool(
            Signature.is_valid(
                signature=signature,
                client_secret=client_secret,
                request_body=body,
                http_uri=uri,
                http_method=method,
                signature_version=version,
                timestamp=timestamp,
            )
        )
    except (InvalidSignatureTimestampError, InvalidSignatureVersionError):
        return False
