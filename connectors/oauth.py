"""OAuth 2.0 (RFC 6749, RFC 7636) for every provider that declares it, carried by
requests-oauthlib's `OAuth2Session`: the consent URL with its PKCE challenge, the code
exchange, the refresh (rotating where the vendor rotates) and the refusals' meaning.

What differs per vendor is data in its `OAuth2` declaration (paths, scopes, PKCE, how it
spells a refused refresh token); nothing here names a vendor.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from connectors import errors
from connectors.credentials import TokenSet
from connectors.http import HttpClient, VendorApi, default_error_reader
from connectors.providers import OAuth2, Provider

TOKEN_TIMEOUT = (5.0, 30.0)


def code_challenge(code_verifier: str) -> str:
    """The S256 PKCE challenge (RFC 7636 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def client_credentials(provider: Provider) -> tuple[str, str]:
    """APIUP's app registration with the vendor (client id and secret)."""
    client = settings.OAUTH_CLIENTS.get(provider.key) or settings.OAUTH_CLIENT_DEFAULT
    return str(client[0]), str(client[1])


def _declaration(provider: Provider) -> OAuth2:
    if provider.oauth is None:
        raise ValueError(f"{provider.label} has no OAuth 2.0 connection.")
    return provider.oauth


def authorization_url(
    provider: Provider, *, state: str, redirect_uri: str, oauth_url: str, code_verifier: str = ""
) -> str:
    """The vendor's consent page, asking for the declared scopes (with an S256 challenge where
    the vendor takes PKCE)."""
    declaration = _declaration(provider)
    client_id, _secret = client_credentials(provider)
    session = OAuth2Session(
        client_id, redirect_uri=redirect_uri, scope=list(declaration.scopes), state=state
    )
    extra: dict[str, str] = {}
    if declaration.pkce:
        extra = {"code_challenge": code_challenge(code_verifier), "code_challenge_method": "S256"}
    url, _state = session.authorization_url(
        oauth_url.rstrip("/") + declaration.authorize_path, **extra
    )
    if declaration.quote_scopes_with_percent:
        parts = urlsplit(url)
        query = urlencode(parse_qsl(parts.query), quote_via=quote)
        url = urlunsplit(parts._replace(query=query))
    return str(url)


def exchange_code(
    provider: Provider, *, code: str, redirect_uri: str, oauth_url: str, code_verifier: str = ""
) -> TokenSet:
    """The authorization code from the redirect, exchanged for the first token pair. A code
    the vendor refuses (expired, used, wrong verifier) raises ReconnectRequired: the customer
    has to give consent again."""
    declaration = _declaration(provider)
    client_id, secret = client_credentials(provider)
    session = _session(provider, client_id=client_id, redirect_uri=redirect_uri, what="code")
    extra = {"code_verifier": code_verifier} if declaration.pkce else {}
    token_url = oauth_url.rstrip("/") + declaration.token_path
    return _token_set(
        provider,
        lambda: session.fetch_token(
            token_url,
            code=code,
            include_client_id=True,
            client_secret=secret,
            timeout=TOKEN_TIMEOUT,
            **extra,
        ),
    )


def refresh(provider: Provider, refresh_token: str, *, oauth_url: str) -> TokenSet:
    """A new token pair. Where the refresh token rotates, the answer's replaces the one sent,
    and `connectors.credentials.access_token` stores it. A refused refresh token raises
    ReconnectRequired."""
    client_id, secret = client_credentials(provider)
    session = _session(provider, client_id=client_id, what="refresh token")
    token_url = oauth_url.rstrip("/") + _declaration(provider).token_path
    return _token_set(
        provider,
        lambda: session.refresh_token(
            token_url,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=secret,
            timeout=TOKEN_TIMEOUT,
        ),
    )


def revoke(provider: Provider, refresh_token: str, *, oauth_url: str) -> bool:
    """Ends the access a refresh token grants, where the vendor offers that; False where it
    does not. A token the vendor no longer knows counts as revoked."""
    declaration = _declaration(provider)
    if not declaration.revoke_path or not refresh_token:
        return False
    path = declaration.revoke_path.format(refresh_token=quote(refresh_token, safe=""))
    form = None
    if "{refresh_token}" not in declaration.revoke_path:
        # RFC 7009: the token in a form body, the client authenticated by its credentials.
        client_id, secret = client_credentials(provider)
        form = {
            "token": refresh_token,
            "token_type_hint": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
        }
    # One attempt: a retry would log the path, and the path may hold the token.
    client = HttpClient(
        VendorApi(name=provider.label, base_url=oauth_url, max_attempts=1), limiter_key="oauth"
    )
    with contextlib.suppress(errors.NotFound):
        client.request(declaration.revoke_method, path, data=form, expected=(200, 204))
    return True


def _session(
    provider: Provider, *, client_id: str, what: str, redirect_uri: str | None = None
) -> OAuth2Session:
    session = OAuth2Session(client_id, redirect_uri=redirect_uri)
    check = _refusal_check(provider, what=what)
    session.register_compliance_hook("access_token_response", check)
    session.register_compliance_hook("refresh_token_response", check)
    return session


def _refusal_check(provider: Provider, *, what: str) -> Callable[[requests.Response], Any]:
    """A compliance hook: an answer other than 200 becomes the product's error before
    oauthlib reads the body (it reads every body as a token answer, whatever the status)."""

    def check(response: requests.Response) -> requests.Response:
        if response.status_code == 200:
            return response
        if response.status_code >= 500 or response.status_code == 429:
            raise errors.TransientError(
                f"{provider.label} could not answer the {what} request now.",
                vendor_message=default_error_reader(response),
                status=response.status_code,
            )
        raise token_refusal(response, provider=provider, what=what)

    return check


def _token_set(provider: Provider, fetch: Callable[[], Mapping[str, Any]]) -> TokenSet:
    try:
        body = fetch()
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise errors.TransientError(
            f"{provider.label}: the token endpoint did not answer ({type(exc).__name__})"
        ) from exc
    except OAuth2Error as exc:  # a 200 whose body is no token answer
        raise errors.PermanentError(
            f"{provider.label} answered the token request without a usable token.",
            vendor_message=exc.description or exc.error,
        ) from exc
    if not body.get("access_token"):
        raise errors.PermanentError(
            f"{provider.label} answered the token request without an access token."
        )
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=float(body.get("expires_in") or 0),
    )


def token_refusal(
    response: requests.Response, *, provider: Provider, what: str
) -> errors.ConnectorError:
    """A refused token request: our client credentials (401) are our problem; an
    `invalid_grant` (or the vendor's own word for it) means the customer has to connect again;
    anything else is permanent."""
    message = default_error_reader(response)
    vendor = provider.label
    if response.status_code == 401:
        return errors.PermanentError(
            f"{vendor} refused APIUP's client credentials during the {what}.",
            vendor_message=message,
            status=401,
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, Mapping) else {}
    markers = (("error", "invalid_grant"), *_declaration(provider).invalid_grant_markers)
    if any(body.get(key) == value for key, value in markers):
        return errors.ReconnectRequired(
            f"{vendor} refused the {what}; {vendor} must be connected again.",
            vendor_message=message,
            status=response.status_code,
        )
    return errors.PermanentError(
        f"{vendor} refused the {what}.", vendor_message=message, status=response.status_code
    )
