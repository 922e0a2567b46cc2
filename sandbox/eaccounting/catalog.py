"""What a new Visma eAccounting company already has before anyone writes to it: its settings,
terms of payment, units, article account codings, VAT codes and a bank account, the lists a
connector reads to fill the ids the spec requires (`TermsOfPaymentId`, `UnitId`, `CodingId`,
`CompanyBankAccountId`). The values are a Dutch company's (eAccounting is sold in the
Netherlands in euros); every id is derived from the company and the entry, so it is stable."""

from __future__ import annotations

import uuid
from typing import Any

Record = dict[str, Any]
# The reference lists, each as its schema in the spec names its fields.
REFERENCE_LISTS = ("termsofpayments", "units", "articleaccountcodings", "vatcodes", "bankaccounts")


def stable_id(company_id: str, kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"eaccounting:{company_id}:{kind}:{name}"))


def reference_records(company_id: str) -> dict[str, list[Record]]:
    def ident(kind: str, name: str) -> str:
        return stable_id(company_id, kind, name)

    terms = [
        {"Id": ident("terms", name), "Name": name, "NameEnglish": english, "NumberOfDays": days,
         "TermsOfPaymentTypeId": 0, "TermsOfPaymentTypeText": "Normal",
         "AvailableForSales": True, "AvailableForPurchase": True}
        for name, english, days in (("14 dagen", "14 days", 14), ("30 dagen", "30 days", 30))
    ]  # fmt: skip
    units = [
        {"Id": ident("unit", code), "Name": name, "Code": code, "Abbreviation": abbreviation,
         "AbbreviationEnglish": english}
        for name, code, abbreviation, english in (
            ("Stuks", "ST", "st", "pcs"), ("Uur", "HUR", "uur", "h"), ("Dag", "DAY", "dag", "d"))
    ]  # fmt: skip
    vat_rates = (("Hoog tarief", "21", 0.21), ("Laag tarief", "9", 0.09), ("Vrijgesteld", "0", 0.0))
    codings = [
        {"Id": ident("coding", code), "Name": f"Omzet {name.lower()}",
         "NameEnglish": f"Sales {code} %",
         "Type": "Goods", "VatRate": code, "IsActive": True, "VatRatePercent": rate,
         "DomesticSalesSubjectToVatAccountNumber": 8000 + int(code),
         "ChangedUtc": "2026-01-01T00:00:00Z"}
        for name, code, rate in vat_rates
    ]  # fmt: skip
    vat_codes = [
        {"Id": ident("vat", code), "Code": code, "Description": name, "VatRate": rate,
         "OssCodeType": 0}
        for name, code, rate in vat_rates
    ]  # fmt: skip
    bank = {"Id": ident("bank", "1100"), "Name": "Bedrijfsrekening", "BankAccountType": 1,
            "LedgerAccountNumber": 1100, "Iban": "NL91ABNA0417164300", "IsActive": True,
            "IsDefaultChequeAccount": True, "CurrencyCode": "EUR"}  # fmt: skip
    return {
        "termsofpayments": terms,
        "units": units,
        "articleaccountcodings": codings,
        "vatcodes": vat_codes,
        "bankaccounts": [bank],
    }


def company_settings(company_id: str, name: str) -> Record:
    """`GET /companysettings` (CompanySettingsApi; the Next… numbers are filled in on read)."""
    return {
        "Name": name, "Email": "administratie@example.nl", "Address1": "Keizersgracht 1",
        "CountryCode": "NL", "PostalCode": "1015 CJ", "City": "Amsterdam",
        "CurrencyCode": "EUR", "TermsOfPaymentId": stable_id(company_id, "terms", "30 dagen"),
        "VatCode": "NL001234567B01", "CompanyIdentifier": company_id, "CompanyStatus": 1,
    }  # fmt: skip
