"""ZEP's SOAP API (v7) as far as the product uses it: readKunde, createKunde, updateKunde,
readProjekte and createProjekt, described by `vendor-specs/zep/zep-soap-v7-derived.wsdl`.

Each request body is validated against the WSDL's schema before it is read, and read and
answered with zeep's own (de)serialisation of the WSDL's messages, so the sandbox speaks the
same envelopes as the product's client. SOAP works on the records the REST API serves: a
customer (KundeType) is the REST customer under SOAP's field names, with its addresses
(adressenListe) and contact persons (ansprechpartnerListe), which only SOAP can write.

Assumptions where the WSDL is silent (fact sheet "Older SOAP API"): a request that breaks the
schema or carries a wrong token is answered with a SOAP fault (HTTP 500, faultcode Client);
a refused operation with `responseHeader.returnCode` other than "0" and a message; list
entries with an `id` are changed, without one added, with `action` "delete" removed.
"""

from __future__ import annotations

import copy
import itertools
from functools import cache
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from flask import Response
from lxml import etree  # type: ignore[import-untyped]
from zeep import Client
from zeep.helpers import serialize_object

from sandbox.contract import SPECS_DIR
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.zep.app import ZepSandbox

WSDL = SPECS_DIR / "zep" / "zep-soap-v7-derived.wsdl"
VERSION = "7"
NAMESPACE = "http://zep.provantis.de"
XSD_NS = "{http://www.w3.org/2001/XMLSchema}"
XSD = f"{XSD_NS}schema"
BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
# KundeType field → REST customer field (the same customer seen through both APIs).
CUSTOMER_FIELDS = {
    "kundenNr": "customer_number",
    "name": "name",
    "telefon": "phone",
    "fax": "fax",
    "email": "email",
    "www": "website",
    "bemerkung": "comments",
    "waehrung": "currency",
    "iban": "iban",
    "bic": "bic",
}
# AdresseType field → REST address field.
ADDRESS_FIELDS = {
    "name": "name",
    "adressZeile1": "address",
    "adressZeile2": "address_line_2",
    "adressZeile3": "address_line_3",
    "plz": "zip_code",
    "ort": "city",
    "land": "country",
    "istStandard": "is_default",
    "alsRechnungsadresse": "is_billing_address",
}
_ids = itertools.count(1)


class Refused(Exception):
    """An operation ZEP refuses: answered with a returnCode other than "0"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@cache
def _client() -> Client:
    return Client(str(WSDL))


@cache
def _schema() -> etree.XMLSchema:
    # The schema's type references use the prefix the WSDL declares (tns): keep it in scope.
    wsdl = etree.parse(str(WSDL)).getroot()
    schema = etree.Element(XSD, nsmap={**wsdl.nsmap, "tns": NAMESPACE})
    schema.attrib.update(wsdl.find(f".//{XSD}").attrib)
    schema.extend(copy.deepcopy(list(wsdl.find(f".//{XSD}"))))
    for pattern in schema.iter(f"{XSD_NS}pattern"):
        # The WSDL anchors its patterns (^...$), which XML Schema reads as literal characters
        # (its patterns are anchored anyway): they are checked as meant.
        pattern.set("value", pattern.get("value", "").removeprefix("^").removesuffix("$"))
    return etree.XMLSchema(schema)


def fault(message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
        'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
        "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>"
        f"<faultstring>{escape(message)}</faultstring></SOAP-ENV:Fault>"
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    return Response(body, status=500, mimetype="text/xml")


def answer(sandbox: ZepSandbox, raw: bytes) -> Response:
    try:
        envelope = etree.fromstring(raw)
        content = envelope.find(BODY)[0]
    except (etree.XMLSyntaxError, TypeError, IndexError):
        return fault("Bad Request: no SOAP envelope")
    schema = _schema()
    if not schema.validate(etree.ElementTree(copy.deepcopy(content))):
        return fault("; ".join(str(e.message) for e in schema.error_log))
    name = etree.QName(content).localname.removesuffix("Request")
    operation = name[0].lower() + name[1:]
    handler = OPERATIONS.get(operation)
    if handler is None:
        return fault(f"Procedure '{operation}' not present")
    binding = _client().service._binding._operations[operation]
    request = serialize_object(binding.input.deserialize(envelope), dict)
    instance = sandbox.owner()
    header = request.get("requestHeader") or {}
    if header.get("authorizationToken") != sandbox.instances[instance][1]:
        return fault("Authentication failed: invalid authorizationToken")
    try:
        result = handler(sandbox, instance, request)
        status = {"version": VERSION, "returnCode": "0"}
    except Refused as refused:
        result = {}
        status = {"version": VERSION, "returnCode": refused.code, "message": str(refused)}
    if operation.startswith("create") and status["returnCode"] == "0":
        sandbox.after_commit()
    message = binding.output.serialize(responseHeader=status, **result)
    return Response(etree.tostring(message.content), mimetype="text/xml")


def _customer(sandbox: ZepSandbox, instance: str, number: str) -> Record:
    found = sandbox.store.find("customers", instance, number)
    if found is None:
        raise Refused("1", f"Kunde {number} nicht gefunden")
    return found


def _kunde(record: Record) -> dict[str, Any]:
    kunde = {soap: record.get(rest) for soap, rest in CUSTOMER_FIELDS.items()}
    addresses = [
        {"id": a["id"], **{soap: a.get(rest) for soap, rest in ADDRESS_FIELDS.items()}}
        for a in record.get("addresses", [])
    ]
    return {
        **kunde,
        "adressenListe": {"adresse": addresses},
        "ansprechpartnerListe": {"ansprechpartner": record.get("contacts", [])},
    }


def _merge(stored: list[Record], sent: list[Record], fields: dict[str, str] | None) -> list[Record]:
    """A list of the WSDL: an entry with an id is changed (or removed with action "delete"),
    one without is added. `fields` renames SOAP fields to the stored ones."""
    by_id = {entry["id"]: entry for entry in stored}
    for entry in sent:
        values = {k: v for k, v in entry.items() if v is not None and k not in ("id", "action")}
        if fields is not None:
            values = {fields[k]: v for k, v in values.items() if k in fields}
        if entry.get("id") is None:
            by_id[next(_ids)] = values
        elif entry["id"] not in by_id:
            raise Refused("2", f"Eintrag {entry['id']} nicht gefunden")
        elif entry.get("action") == "delete":
            del by_id[entry["id"]]
        else:
            by_id[entry["id"]].update(values)
    return [{**entry, "id": entry_id} for entry_id, entry in by_id.items()]


def _write_kunde(sandbox: ZepSandbox, instance: str, kunde: Record, stored: Record) -> Record:
    changes = {
        rest: kunde[soap]
        for soap, rest in CUSTOMER_FIELDS.items()
        if kunde.get(soap) is not None and soap != "kundenNr"
    }
    addresses = (kunde.get("adressenListe") or {}).get("adresse") or []
    contacts = (kunde.get("ansprechpartnerListe") or {}).get("ansprechpartner") or []
    for contact in contacts:
        if contact.get("id") is None and not (contact.get("vorname") and contact.get("name")):
            raise Refused("3", "vorname und name sind Pflichtfelder eines Ansprechpartners")
        contact["kundenNr"] = stored["customer_number"]
    changes["addresses"] = _merge(stored.get("addresses", []), addresses, ADDRESS_FIELDS)
    changes["contacts"] = _merge(stored.get("contacts", []), contacts, None)
    return sandbox.store.update("customers", instance, stored["customer_number"], changes)


def read_kunde(sandbox: ZepSandbox, instance: str, request: dict[str, Any]) -> dict[str, Any]:
    number = (request.get("readKundenSearchCriteria") or {}).get("kundenNr")
    rows = sandbox.store.select("customers", instance, params={"customer_number": number or ""})
    return {"kundeListe": {"kunde": [_kunde(r) for r in rows], "length": len(rows)}}


def create_kunde(sandbox: ZepSandbox, instance: str, request: dict[str, Any]) -> dict[str, Any]:
    kunde = request["kunde"]
    number, name = kunde.get("kundenNr"), kunde.get("name")
    if not number or not name:
        raise Refused("3", "kundenNr und name sind Pflichtfelder")
    if sandbox.store.find("customers", instance, number) is not None:
        raise Refused("4", f"Kundennummer {number} ist bereits vergeben")
    with sandbox.lock:
        ids = sandbox.customer_ids.setdefault(instance, itertools.count(501))
        internal_id = next(ids)
    stored = sandbox.store.create(
        "customers",
        instance,
        {
            "customer_number": number,
            "name": name,
            "id": internal_id,
            "currency": "EUR",
            "department_id": 1,
        },
    )
    _write_kunde(sandbox, instance, kunde, stored)
    return {"kundenNr": number}


def update_kunde(sandbox: ZepSandbox, instance: str, request: dict[str, Any]) -> dict[str, Any]:
    kunde = request["kunde"]
    stored = _customer(sandbox, instance, kunde.get("kundenNr") or "")
    _write_kunde(sandbox, instance, kunde, stored)
    return {}


def _projekt(sandbox: ZepSandbox, instance: str, record: Record) -> dict[str, Any]:
    customers = sandbox.store.select(
        "customers", instance, where=lambda c: c["id"] == record.get("customer_id")
    )
    return {
        "projektNr": record["name"],
        "kundenNr": customers[0]["customer_number"] if customers else None,
        "bezeichnung": record.get("description"),
        "startDatum": record.get("start_date"),
        "endeDatum": record.get("end_date"),
        "status": record.get("project_status_id"),
        "projektId": record["id"],
    }


def read_projekte(sandbox: ZepSandbox, instance: str, request: dict[str, Any]) -> dict[str, Any]:
    number = (request.get("readProjekteSearchCriteria") or {}).get("projektNr") or ""
    rows = sandbox.store.select("projects", instance, params={"name": number})
    found = [_projekt(sandbox, instance, r) for r in rows]
    return {"projektListe": {"projekt": found, "length": len(found)}}


def create_projekt(sandbox: ZepSandbox, instance: str, request: dict[str, Any]) -> dict[str, Any]:
    projekt = request["projekt"]
    number, title = projekt.get("projektNr"), projekt.get("bezeichnung")
    customer = _customer(sandbox, instance, projekt.get("kundenNr") or "")
    if not number or not title:
        raise Refused("3", "projektNr und bezeichnung sind Pflichtfelder")
    if sandbox.store.select("projects", instance, params={"name": number}):
        raise Refused("4", f"Projekt {number} existiert bereits")
    sandbox.store.create(
        "projects",
        instance,
        {
            "name": number,
            "description": title,
            "customer_id": customer["id"],
            "start_date": projekt.get("startDatum"),
            "project_status_id": projekt.get("status"),
        },
    )
    return {"projektNr": number}


OPERATIONS = {
    "readKunde": read_kunde,
    "createKunde": create_kunde,
    "updateKunde": update_kunde,
    "readProjekte": read_projekte,
    "createProjekt": create_projekt,
}
