"""The human pages: HubSpot's OAuth consent screen and a deal board per portal and pipeline,
where a person creates deals and moves them between stages (which sends the webhooks)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response, redirect, request

if TYPE_CHECKING:
    from sandbox.hubspot.app import HubSpotSandbox

_STYLE = (
    "<style>body{font:14px system-ui;margin:2rem;color:#33475b}"
    ".cols{display:flex;gap:1rem;align-items:flex-start;overflow-x:auto}"
    ".col{background:#f5f8fa;border:1px solid #cbd6e2;padding:.5rem;min-width:12rem}"
    ".card{background:#fff;border:1px solid #cbd6e2;margin:.5rem 0;padding:.5rem}"
    "fieldset{margin:.5rem 0}input{margin:2px}</style>"
)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>{_STYLE}</head><body>{body}</body></html>"
    )


def consent_page(
    *, app_name: str, portals: dict[int, str], params: dict[str, str], scopes: list[str]
) -> str:
    hidden = "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in params.items()
    )
    choices = "".join(
        f"<label><input type='radio' name='portal_id' value='{pid}'"
        f"{' checked' if i == 0 else ''}> {escape(name)} ({pid})</label><br>"
        for i, (pid, name) in enumerate(portals.items())
    )
    scope_list = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    return _page(
        "Choose an account",
        f"<h1>Connect {escape(app_name)} to HubSpot</h1>"
        f"<form method='post' action='/oauth/authorize'>{hidden}"
        f"<h2>Choose an account</h2>{choices}"
        f"<h2>The app asks for</h2><ul>{scope_list}</ul>"
        "<button name='decision' value='approve'>Connect app</button> "
        "<button name='decision' value='deny'>Cancel</button></form>",
    )


def error_page(message: str) -> str:
    return _page("Authorization error", f"<h1>Authorization error</h1><p>{escape(message)}</p>")


def board_page(
    *,
    portals: dict[int, str],
    portal_id: int,
    pipelines: list[dict[str, Any]],
    pipeline_id: str,
    deals: list[dict[str, Any]],
) -> str:
    """`deals`: {"id", "properties", "company"} dicts of the chosen pipeline."""
    portal_links = " | ".join(
        f"<a href='?{urlencode({'portal': pid})}'>{escape(name)}</a>"
        for pid, name in portals.items()
    )
    pipeline_links = " | ".join(
        f"<a href='?{urlencode({'portal': portal_id, 'pipeline': p['id']})}'>"
        f"{escape(p['label'])}</a>"
        for p in pipelines
    )
    pipeline = next(p for p in pipelines if p["id"] == pipeline_id)
    stages = pipeline["stages"]
    options = "".join(
        f"<option value='{escape(s['id'])}'>{escape(s['label'])}</option>" for s in stages
    )
    columns = []
    for stage in stages:
        cards = []
        for deal in deals:
            props = deal["properties"]
            if props.get("dealstage") != stage["id"]:
                continue
            cards.append(
                "<div class='card'>"
                f"<b>{escape(props.get('dealname', ''))}</b><br>"
                f"{escape(props.get('amount', ''))} {escape(props.get('deal_currency_code', ''))}"
                f"<br><small>{escape(deal.get('company', ''))} · id {escape(deal['id'])}</small>"
                "<form method='post' action='/_sandbox/board/move'>"
                f"<input type='hidden' name='portal' value='{portal_id}'>"
                f"<input type='hidden' name='pipeline' value='{escape(pipeline_id)}'>"
                f"<input type='hidden' name='deal_id' value='{escape(deal['id'])}'>"
                f"<select name='stage'>{options}</select><button>Move</button></form></div>"
            )
        columns.append(
            f"<div class='col'><h3>{escape(stage['label'])}</h3>"
            f"<small>{escape(stage['id'])} · probability "
            f"{escape(stage['metadata'].get('probability', ''))}</small>{''.join(cards)}</div>"
        )
    line_rows = "".join(
        "<div>"
        "<input name='li_name' placeholder='name'>"
        "<input name='li_quantity' placeholder='quantity' size='6'>"
        "<input name='li_price' placeholder='price' size='8'>"
        "<input name='li_sku' placeholder='hs_sku' size='8'>"
        "<input name='li_discount' placeholder='hs_discount_percentage' size='6'>"
        "</div>"
        for _ in range(3)
    )
    form = (
        "<h2>New deal</h2><form method='post' action='/_sandbox/board/deals'>"
        f"<input type='hidden' name='portal' value='{portal_id}'>"
        f"<input type='hidden' name='pipeline' value='{escape(pipeline_id)}'>"
        "<fieldset><legend>Deal</legend><input name='dealname' placeholder='dealname' required>"
        "<input name='amount' placeholder='amount'>"
        f"<select name='stage'>{options}</select></fieldset>"
        "<fieldset><legend>Company</legend><input name='company_name' placeholder='name'>"
        "<input name='company_domain' placeholder='domain'>"
        "<input name='company_address' placeholder='address'><input name='company_zip' "
        "placeholder='zip' size='6'><input name='company_city' placeholder='city'>"
        "<input name='company_country' placeholder='country'></fieldset>"
        "<fieldset><legend>Contact</legend><input name='contact_firstname' "
        "placeholder='firstname'><input name='contact_lastname' placeholder='lastname'>"
        "<input name='contact_email' placeholder='email' type='email'></fieldset>"
        f"<fieldset><legend>Line items</legend>{line_rows}</fieldset>"
        "<button>Create deal</button></form>"
    )
    return _page(
        "HubSpot deal board",
        f"<h1>Deals of {escape(portals[portal_id])} ({portal_id})</h1>"
        f"<p>Portal: {portal_links}<br>Pipeline: {pipeline_links}</p>"
        f"<h2>{escape(pipeline['label'])}</h2><div class='cols'>{''.join(columns)}</div>{form}",
    )


# -- the board's routes ------------------------------------------------------------------------


def board(sandbox: HubSpotSandbox) -> Response:
    portal_id = int(request.args.get("portal") or next(iter(sandbox.portals)))
    if portal_id not in sandbox.portals:
        return Response("unknown portal", 404)
    pipeline_id = request.args.get("pipeline") or "default"
    if sandbox.pipeline(portal_id, pipeline_id) is None:
        return Response("unknown pipeline", 404)
    owner, deals = str(portal_id), []
    for deal in sandbox.store.select("deals", owner):
        if deal["archived"] or deal["properties"].get("pipeline") != pipeline_id:
            continue
        companies = sandbox.linked(portal_id, "deals", deal["id"], "companies")
        primary = next((c for c, types in companies.items() if 5 in types), None)
        company = sandbox.store.find("companies", owner, primary) if primary else None
        name = company["properties"].get("name", "") if company else ""
        deals.append({"id": deal["id"], "properties": deal["properties"], "company": name})
    page = board_page(
        portals=sandbox.portals,
        portal_id=portal_id,
        pipelines=sandbox.pipelines[portal_id],
        pipeline_id=pipeline_id,
        deals=deals,
    )
    return Response(page, mimetype="text/html")


def _filled(prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    values = {name: request.form.get(f"{prefix}_{name}", "").strip() for name in names}
    return {name: value for name, value in values.items() if value}


def _line_items() -> list[dict[str, str]]:
    form, items = request.form, []
    columns = ("li_name", "li_quantity", "li_price", "li_sku", "li_discount")
    for name, quantity, price, sku, discount in zip(*map(form.getlist, columns), strict=False):
        if not name.strip():
            continue
        item = {"name": name.strip(), "quantity": quantity or "1", "price": price or "0"}
        if sku:
            item["hs_sku"] = sku
        if discount:
            item["hs_discount_percentage"] = discount
        items.append(item)
    return items


def board_create(sandbox: HubSpotSandbox) -> Response:
    form = request.form
    company = _filled("company", ("name", "domain", "address", "zip", "city", "country"))
    contact = _filled("contact", ("firstname", "lastname", "email"))
    sandbox.seed_deal(
        int(form["portal"]),
        name=form.get("dealname") or "Deal",
        amount=form.get("amount") or None,
        pipeline=form.get("pipeline", "default"),
        stage=form.get("stage") or None,
        company=company or None,
        contact=contact or None,
        line_items=_line_items(),
    )
    return _back_to_board()


def board_move(sandbox: HubSpotSandbox) -> Response:
    sandbox.move_deal(int(request.form["portal"]), request.form["deal_id"], request.form["stage"])
    return _back_to_board()


def _back_to_board() -> Response:
    query = urlencode(
        {"portal": request.form["portal"], "pipeline": request.form.get("pipeline", "default")}
    )
    return redirect(f"/_sandbox/board?{query}", 303)  # type: ignore[return-value]
