"""The human pages: HubSpot's OAuth consent screen and a deal board per portal and pipeline,
where a person creates deals and moves them between stages (which sends the webhooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response, redirect, request
from jinja2 import DictLoader, Environment

if TYPE_CHECKING:
    from sandbox.hubspot.app import HubSpotSandbox
    from sandbox.hubspot.catalog import Route

TEMPLATES = {
    "layout": """<!DOCTYPE html><html><head><meta charset='utf-8'><title>{{ title }}</title>
<style>body{font:14px system-ui;margin:2rem;color:#33475b}
.cols{display:flex;gap:1rem;align-items:flex-start;overflow-x:auto}
.col{background:#f5f8fa;border:1px solid #cbd6e2;padding:.5rem;min-width:12rem}
.card{background:#fff;border:1px solid #cbd6e2;margin:.5rem 0;padding:.5rem}
fieldset{margin:.5rem 0}input{margin:2px}</style></head>
<body>{% block body %}{% endblock %}</body></html>""",
    "consent": """{% extends "layout" %}{% block body %}
<h1>Connect {{ app_name }} to HubSpot</h1>
<form method='post' action='/oauth/authorize'>
  {% for name, value in params.items() -%}
  <input type='hidden' name='{{ name }}' value='{{ value }}'>
  {% endfor %}
  <h2>Choose an account</h2>
  {% for pid, name in portals.items() %}
  <label><input type='radio' name='portal_id' value='{{ pid }}'{{ ' checked' if loop.first }}>
    {{ name }} ({{ pid }})</label><br>
  {% endfor %}
  <h2>The app asks for</h2>
  <ul>{% for scope in scopes %}<li><code>{{ scope }}</code></li>{% endfor %}</ul>
  <button name='decision' value='approve'>Connect app</button>
  <button name='decision' value='deny'>Cancel</button>
</form>{% endblock %}""",
    "error": """{% extends "layout" %}{% block body %}
<h1>Authorization error</h1><p>{{ message }}</p>{% endblock %}""",
    "board": """{% extends "layout" %}{% block body %}
{% macro stages() %}<select name='stage'>{% for s in pipeline.stages %}
  <option value='{{ s.id }}'>{{ s.label }}</option>{% endfor %}</select>{% endmacro %}
{% macro place() %}<input type='hidden' name='portal' value='{{ portal_id }}'>
  <input type='hidden' name='pipeline' value='{{ pipeline.id }}'>{% endmacro %}
<h1>Deals of {{ portals[portal_id] }} ({{ portal_id }})</h1>
<p>Portal: {% for pid, name in portals.items() %}
  <a href='?portal={{ pid }}'>{{ name }}</a>{% endfor %}<br>
Pipeline: {% for p in pipelines %}
  <a href='?portal={{ portal_id }}&amp;pipeline={{ p.id }}'>{{ p.label }}</a>{% endfor %}</p>
<h2>{{ pipeline.label }}</h2>
<div class='cols'>{% for stage in pipeline.stages %}
  <div class='col'><h3>{{ stage.label }}</h3>
    <small>{{ stage.id }} · probability {{ stage.metadata.probability }}</small>
    {% for deal in deals if deal.properties.dealstage == stage.id %}{% set p = deal.properties %}
    <div class='card'><b>{{ p.dealname }}</b><br>{{ p.amount }} {{ p.deal_currency_code }}<br>
      <small>{{ deal.company }} · id {{ deal.id }}</small>
      <form method='post' action='/_sandbox/board/move'>{{ place() }}
        <input type='hidden' name='deal_id' value='{{ deal.id }}'>{{ stages() }}
        <button>Move</button></form></div>{% endfor %}
  </div>{% endfor %}
</div>
<h2>New deal</h2>
<form method='post' action='/_sandbox/board/deals'>{{ place() }}
  <fieldset><legend>Deal</legend><input name='dealname' placeholder='dealname' required>
    <input name='amount' placeholder='amount'>{{ stages() }}</fieldset>
  {% for legend, prefix, names in parties %}<fieldset><legend>{{ legend }}</legend>
    {% for name in names %}<input name='{{ prefix }}_{{ name }}' placeholder='{{ name }}'>
    {% endfor %}</fieldset>{% endfor %}
  <fieldset><legend>Line items</legend>{% for _ in range(3) %}<div>
    {% for name, hint in line_item_fields %}<input name='li_{{ name }}' placeholder='{{ hint }}'>
    {% endfor %}</div>{% endfor %}</fieldset>
  <button>Create deal</button>
</form>{% endblock %}""",
}
_PAGES = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
# The board's form fields: a company and a contact (name prefix, property names) and the
# line items (field, the property it fills).
PARTIES = (
    ("Company", "company", ("name", "domain", "address", "zip", "city", "country")),
    ("Contact", "contact", ("firstname", "lastname", "email")),
)
LINE_ITEM_FIELDS = (("name", "name"), ("quantity", "quantity"), ("price", "price"),
                    ("sku", "hs_sku"), ("discount", "hs_discount_percentage"))  # fmt: skip


def page(template: str, title: str, status: int = 200, **context: Any) -> Response:
    html = _PAGES.get_template(template).render(title=title, **context)
    return Response(html, status, mimetype="text/html")


# -- the board's routes ------------------------------------------------------------------------


def board_routes(sandbox: HubSpotSandbox) -> list[Route]:
    return [
        ("GET", "/_sandbox/board", "sandbox_board", lambda: board(sandbox)),
        ("POST", "/_sandbox/board/deals", "sandbox_board_create", lambda: board_create(sandbox)),
        ("POST", "/_sandbox/board/move", "sandbox_board_move", lambda: board_move(sandbox)),
    ]


def board(sandbox: HubSpotSandbox) -> Response:
    portal_id = int(request.args.get("portal") or next(iter(sandbox.portals)))
    if portal_id not in sandbox.portals:
        return Response("unknown portal", 404)
    pipeline = sandbox.pipeline(portal_id, request.args.get("pipeline") or "default")
    if pipeline is None:
        return Response("unknown pipeline", 404)
    owner, deals = str(portal_id), []
    for deal in sandbox.store.select("deals", owner, where=lambda d: not d["archived"]):
        if deal["properties"].get("pipeline") != pipeline["id"]:
            continue
        companies = sandbox.linked(portal_id, "deals", deal["id"], "companies")
        primary = next((c for c, types in companies.items() if 5 in types), None)
        company = sandbox.store.find("companies", owner, primary) if primary else None
        name = company["properties"].get("name", "") if company else ""
        deals.append({"id": deal["id"], "properties": deal["properties"], "company": name})
    return page(
        "board",
        "HubSpot deal board",
        portals=sandbox.portals,
        portal_id=portal_id,
        pipelines=sandbox.pipelines[portal_id],
        pipeline=pipeline,
        deals=deals,
        parties=PARTIES,
        line_item_fields=LINE_ITEM_FIELDS,
    )


def board_create(sandbox: HubSpotSandbox) -> Response:
    form = request.form
    company, contact = (
        {name: form.get(f"{prefix}_{name}", "").strip() for name in names}
        for _, prefix, names in PARTIES
    )
    line_items = []
    for name, quantity, price, sku, discount in zip(
        *(form.getlist(f"li_{field}") for field, _ in LINE_ITEM_FIELDS), strict=False
    ):
        if name.strip():
            item = {"name": name.strip(), "quantity": quantity or "1", "price": price or "0"}
            optional = {"hs_sku": sku, "hs_discount_percentage": discount}
            line_items.append({**item, **{k: v for k, v in optional.items() if v}})
    sandbox.seed_deal(
        int(form["portal"]),
        name=form.get("dealname") or "Deal",
        amount=form.get("amount") or None,
        pipeline=form.get("pipeline", "default"),
        stage=form.get("stage") or None,
        company={k: v for k, v in company.items() if v} or None,
        contact={k: v for k, v in contact.items() if v} or None,
        line_items=line_items,
    )
    return _back_to_board()


def board_move(sandbox: HubSpotSandbox) -> Response:
    sandbox.move_deal(int(request.form["portal"]), request.form["deal_id"], request.form["stage"])
    return _back_to_board()


def _back_to_board() -> Response:
    form = request.form
    query = urlencode({"portal": form["portal"], "pipeline": form.get("pipeline", "default")})
    return redirect(f"/_sandbox/board?{query}", 303)  # type: ignore[return-value]
