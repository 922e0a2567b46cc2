"""HubSpot's webhook signatures (v1, v2, v3) through hubspot-api-client's helper, with the
timestamp window the helper leaves open."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from connectors.hubspot.webhooks import BadSignature, verify_signature

SECRET = "app-secret"
URI = "https://app.example/webhooks/hubspot"
BODY = b'[{"eventId": 1}]'


def _v3(timestamp: int, *, body: bytes = BODY) -> dict[str, str]:
    source = b"POST" + URI.encode() + body + str(timestamp).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest())
    return {
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": str(timestamp),
    }


def _verify(headers: dict[str, str], *, body: bytes = BODY) -> None:
    verify_signature(method="POST", uri=URI, body=body, headers=headers, client_secret=SECRET)


def test_a_current_v3_signature_is_accepted() -> None:
    _verify(_v3(int(time.time() * 1000)))


@pytest.mark.parametrize("offset_minutes", [-6, 6])
def test_a_v3_timestamp_outside_five_minutes_either_way_is_refused(offset_minutes: int) -> None:
    with pytest.raises(BadSignature, match="stale"):
        _verify(_v3(int((time.time() + offset_minutes * 60) * 1000)))


def test_a_v3_signature_of_another_body_is_refused() -> None:
    with pytest.raises(BadSignature, match="v3 mismatch"):
        _verify(_v3(int(time.time() * 1000), body=b"[]"))


def test_v2_signs_method_and_uri_too() -> None:
    digest = hashlib.sha256(SECRET.encode() + b"POST" + URI.encode() + BODY).hexdigest()
    _verify({"X-HubSpot-Signature": digest, "X-HubSpot-Signature-Version": "v2"})
    with pytest.raises(BadSignature):
        # The same digest presented as v1 (body only) does not match.
        _verify({"X-HubSpot-Signature": digest, "X-HubSpot-Signature-Version": "v1"})


def test_an_unknown_version_or_no_signature_is_refused() -> None:
    with pytest.raises(BadSignature, match="unknown"):
        _verify({"X-HubSpot-Signature": "00", "X-HubSpot-Signature-Version": "v9"})
    with pytest.raises(BadSignature, match="no signature"):
        _verify({})


def _arabic_indic(digits: str) -> str:
    return digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


@pytest.mark.parametrize(
    "timestamp",
    [
        "9" * 5000,  # int() refuses more than 4,300 digits with ValueError
        _arabic_indic(str(int(time.time() * 1000))),  # isdigit() is true, and int() reads it
        "²" * 13,  # isdigit() is true, int() raises; "²" survives WSGI's latin-1 headers
        "",
        " 1",
        "+" + str(int(time.time() * 1000)),
    ],
    # Ids without the time in them: every pytest-xdist worker must collect the same tests.
    ids=["5000-digits", "arabic-indic-now", "superscripts", "empty", "space-1", "plus-now"],
)
def test_a_malformed_v3_timestamp_is_refused_as_a_bad_signature(timestamp: str) -> None:
    source = b"POST" + URI.encode() + BODY + timestamp.encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest())
    headers = {
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }
    with pytest.raises(BadSignature, match="timestamp"):
        _verify(headers)
