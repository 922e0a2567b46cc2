"""What OAuth 2.0 (RFC 6749, RFC 7636) makes the same at every vendor that uses it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import requests

from connectors import errors


def code_challenge(code_verifier: str) -> str:
    """The S256 PKCE challenge (RFC 7636 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_refusal(
    response: requests.Response,
    *,
    vendor: str,
    what: str,
    read_error: Callable[[requests.Response], str],
) -> errors.ConnectorError:
    """A refused token request: our client credentials (401) are our problem; an
    `invalid_grant` means the customer has to connect again; anything else is permanent."""
    message = read_error(response)
    if response.status_code == 401:
        return errors.PermanentError(
            f"{vendor} refused APIUP's client credentials during the {what}.",
            vendor_message=message,
            status=401,
        )
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        code = None
    if code == "invalid_grant":
        return errors.ReconnectRequired(
            f"{vendor} refused the {what}; {vendor} must be connected again.",
            vendor_message=message,
            status=response.status_code,
        )
    return errors.PermanentError(
        f"{vendor} refused the {what}.", vendor_message=message, status=response.status_code
    )
