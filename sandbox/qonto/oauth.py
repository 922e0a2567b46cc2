"""Qonto's OAuth host (oauth.qonto.com) on the sandbox's port: the consent page at the spec's
`authorizationUrl` and the token endpoint, whose spent refresh token stays valid for a grace
period (fact sheet: 60 seconds) so that a retry after a lost answer works."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.contract import SpecProblem
from sandbox.core import VendorSandbox
from sandbox.oauth_server import OAuthClient, consent_form, html_page, token_refusal, with_query
from sandbox.qonto.state import ALL_SCOPES

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

# Ory Hydra's prefixes, as Qonto's tokens carry them.
PREFIXES = ("ory_ac_", "ory_at_", "ory_rt_")


def _back(redirect_uri: str, params: dict[str, str], **answer: str) -> Response:
    """Sends the browser back to the client with the answer and the client's `state`."""
    if params.get("state"):
        answer["state"] = params["state"]
    return Response(status=302, headers={"Location": with_query(redirect_uri, answer)})


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    # Qonto does not show its OAuth error body; the spec assumes RFC 6749's.
    return VendorSandbox.json({"error": error, "error_description": description}, status)


def refused_token_request(sandbox: QontoSandbox, problems: list[SpecProblem]) -> Response:
    """A token request the spec refuses, in RFC 6749's error body (the spec's assumption)."""
    error, missing = token_refusal(sandbox.spec, request)
    if error == "unsupported_grant_type":
        return _oauth_error(error, "The grant_type is not supported")
    described = f"The parameter {missing} is missing" if missing else str(problems[0])
    return _oauth_error(error, described)


def _page(title: str, body: str, status: int = 200) -> Response:
    return html_page(title, f"<h1>{html.escape(title)}</h1>{body}", status)


def _authorize_request(
    sandbox: QontoSandbox, params: dict[str, str]
) -> tuple[str, list[str]] | Response:
    """The redirect URI and scopes of an authorize request, or the page that refuses it.

    A bad client or redirect URI is shown in the browser, never redirected (RFC 6749
    4.1.2.1); the other errors go back to the client's redirect URI.
    """
    client = sandbox.oauth.clients.get(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    if client is None:
        return _page("Unknown application", "<p>The client_id is not known.</p>", 400)
    if not client.accepts(redirect_uri):
        return _page("Invalid redirect", "<p>The redirect_uri is not registered.</p>", 400)
    if params.get("response_type", "code") != "code":
        return _back(redirect_uri, params, error="unsupported_response_type")
    scopes = params.get("scope", "").split()
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        description = f"Unknown scope {unknown[0]}"
        return _back(redirect_uri, params, error="invalid_scope", error_description=description)
    return redirect_uri, scopes


def register_oauth_routes(sandbox: QontoSandbox, app: Flask) -> None:
    oauth = sandbox.oauth

    @app.get("/oauth2/auth", endpoint="oauth_authorize")
    def authorize() -> Response:
        params = request.args.to_dict()
        checked = _authorize_request(sandbox, params)
        if isinstance(checked, Response):
            return checked
        form = consent_form(
            action="/oauth2/auth",
            params=params,
            choice="organization_id",
            options=[(o.id, o.name) for o in sandbox.organizations.values()],
        )
        asks = f"<p><b>{html.escape(params['client_id'])}</b> asks for access to:</p>"
        return _page("Qonto: authorize access", asks + form)

    @app.post("/oauth2/auth", endpoint="oauth_consent")
    def consent() -> Response:
        params = request.form.to_dict()
        decision = params.pop("decision", "")
        organization_id = params.pop("organization_id", "")
        checked = _authorize_request(sandbox, params)
        if isinstance(checked, Response):
            return checked
        redirect_uri, scopes = checked
        if decision != "approve":
            description = "The resource owner denied the request"
            return _back(redirect_uri, params, error="access_denied", error_description=description)
        if organization_id not in sandbox.organizations:
            return _page("Unknown organization", "<p>Pick an organization.</p>", 400)
        code = oauth.new_code(
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            account=organization_id,
            scope=" ".join(scopes),
        )
        return _back(redirect_uri, params, code=code, scope=" ".join(scopes))

    # The form's media type, grant type and parameters are the spec step's (`token_refusal`).
    @app.post("/oauth2/token", endpoint="oauth_token")
    def token() -> Response:
        form = request.form.to_dict()
        client = oauth.authenticated_client(form["client_id"], form["client_secret"])
        if client is None:
            return _oauth_error("invalid_client", "Client authentication failed", 401)
        if form["grant_type"] == "authorization_code":
            return _exchange_code(client, form)
        return _refresh(client, form)

    def _exchange_code(client: OAuthClient, form: dict[str, str]) -> Response:
        code = oauth.code(form["code"], client.client_id, spend=False)
        if code is None:
            return _oauth_error("invalid_grant", "The authorization code is invalid or expired")
        if code.redirect_uri != form["redirect_uri"]:
            return _oauth_error("invalid_grant", "The redirect_uri does not match")
        oauth.spend_code(form["code"])
        return _tokens(client, code.account, code.scope)

    def _refresh(client: OAuthClient, form: dict[str, str]) -> Response:
        known = oauth.refresh_tokens.get(form["refresh_token"])
        refresh = None
        if known is not None and known.client_id == client.client_id:
            refresh = oauth.spend_refresh(form["refresh_token"])
        if refresh is None:
            return _oauth_error("invalid_grant", "The refresh token is invalid or expired")
        return _tokens(client, refresh.account, refresh.scope)

    def _tokens(client: OAuthClient, organization_id: Any, scope: str) -> Response:
        access, refresh = oauth.issue(client.client_id, organization_id, scope)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(oauth.access_token_lifetime),
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        # No id_token: scope openid would need a signed JWT the product does not use.
        body |= {"scope": scope, "token_type": "bearer"}
        return sandbox.json(body)
