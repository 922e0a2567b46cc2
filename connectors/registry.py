"""Which connector class serves which accounting system (the customer's plan)."""

from __future__ import annotations

from importlib import import_module

from connectors.base import AccountingConnector
from connectors.models import System

ACCOUNTING_CONNECTORS: dict[System, str] = {
    System.LEXOFFICE: "connectors.lexoffice:LexofficeConnector",
    System.BEXIO: "connectors.bexio:BexioConnector",
    System.SEVDESK: "connectors.sevdesk:SevdeskConnector",
    System.QONTO: "connectors.qonto:QontoConnector",
}


def connector_class(system: System | str) -> type[AccountingConnector]:
    module_name, class_name = ACCOUNTING_CONNECTORS[System(system)].split(":")
    connector: type[AccountingConnector] = getattr(import_module(module_name), class_name)
    return connector
