"""Sales vouchers (quotations and invoices): lexoffice's validation rules and the totals it
computes from the line items."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sandbox.lexoffice.errors import NOT_NULL, Violation

VoucherKind = Literal["quotation", "invoice"]

# What the derived spec declares (required members, types, maxLength/maxItems, the enums of
# line-item type, taxType, shippingType, language and the EUR currency) is refused by the spec
# step before the handler runs; VoucherCheck holds only the rules the spec cannot express.

# fmt: off
VATFREE_TAX_TYPES = (
    "vatfree", "intraCommunitySupply", "constructionService13b", "externalService13b",
    "thirdPartyCountryService", "thirdPartyCountryDelivery", "photovoltaicEquipment",
)
# fmt: on
# German rates in force today; a voucher dated before mid-2020 or after a rate change would
# need the rates of its voucher date, which this stand-in does not model.
GERMAN_TAX_RATES = (Decimal(0), Decimal(7), Decimal(19))
AMOUNT_DECIMALS = 4
DIGITS_MESSAGE = (
    "numerischer Wert außerhalb des gültigen Bereichs "
    f"(<16 Ziffern>.<{AMOUNT_DECIMALS} Ziffern> erwartet)"
)
DELIVERY_TERMS_MAX = 255
# yyyy-MM-ddTHH:mm:ss.SSSXXX: three-digit milliseconds, and an offset with a colon (or Z).
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")
DATE_FORMAT = "yyyy-MM-ddTHH:mm:ss.SSSXXX"
CENT = Decimal("0.01")
# What a stored voucher keeps of the body it was made from (with the computed amounts).
SHARED = ("voucherDate", "lineItems", "totalPrice", "taxAmounts", "taxConditions",
          "paymentConditions", "title", "introduction", "remark", "deliveryTerms")  # fmt: skip
KEPT = {"quotation": ("expirationDate", *SHARED), "invoice": (*SHARED, "shippingConditions")}

ContactLookup = Callable[[str], "dict[str, Any] | None"]


def _is_blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _decimals_of(value: Any) -> int:
    exponent = _decimal(value).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def is_lexoffice_date(value: Any) -> bool:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class VoucherCheck:
    """Collects every violation of one voucher body the spec step let through, as lexoffice
    lists them all at once. The body already fits the spec's schema."""

    def __init__(
        self, body: dict[str, Any], *, kind: VoucherKind, contact_of: ContactLookup
    ) -> None:
        self.body = body
        self.kind = kind
        self.contact_of = contact_of
        self.violations: list[Violation] = []
        tax_conditions = body.get("taxConditions") or {}
        self.tax_type = tax_conditions.get("taxType")
        self.tax_sub_type = tax_conditions.get("taxSubType")

    def run(self) -> list[Violation]:
        body = self.body
        self._date("voucherDate", body.get("voucherDate"), required=False)
        if self.kind == "quotation":
            self._date("expirationDate", body.get("expirationDate"), required=False)
        self._address(body.get("address") or {})
        for index, item in enumerate(body.get("lineItems") or []):
            self._line_item(f"lineItems[{index}]", item, sub_item=False)
        self._total_price(body.get("totalPrice") or {})
        if self.kind == "invoice":
            self._shipping_conditions(body.get("shippingConditions") or {})
        terms = body.get("deliveryTerms")
        if isinstance(terms, str) and len(terms) > DELIVERY_TERMS_MAX:
            # lexware office docs, quotations endpoint: deliveryTerms (max. 255 characters);
            # the derived spec does not list the member.
            self._add(
                "deliveryTerms", "SIZE", f"Größe muss zwischen 0 und {DELIVERY_TERMS_MAX} sein"
            )
        return self.violations

    def _add(self, field: str, constraint: str, message: str = NOT_NULL) -> None:
        self.violations.append(Violation(field, constraint, message))

    def _date(self, field: str, value: Any, *, required: bool) -> None:
        # lexware office docs, "Date format": yyyy-MM-ddTHH:mm:ss.SSSXXX. The spec says only
        # `format: date-time`, which also takes a date-time without milliseconds.
        if value is None:
            if required:
                self._add(field, "NOTNULL")
        elif not is_lexoffice_date(value):
            self._add(field, "PATTERN", f"must match {DATE_FORMAT}")

    def _address(self, address: dict[str, Any]) -> None:
        contact_id = address.get("contactId")
        if contact_id is not None:
            contact = self.contact_of(str(contact_id))
            if contact is None:
                self._add("address.contactId", "NOTFOUND", "contact not found")
            elif "customer" not in contact["roles"]:
                # lexware office docs, quotations/invoices endpoint, "Address": a referenced
                # contact must carry the customer role.
                self._add("address.contactId", "CUSTOMERROLE", "contact is not a customer")
            return
        # The spec requires name and countryCode of a one-time address but lets them be blank.
        for field in ("name", "countryCode"):
            if _is_blank(address.get(field)):
                self._add(f"address.{field}", "NOTNULL")

    def _line_item(self, field: str, item: dict[str, Any], *, sub_item: bool) -> None:
        # The spec requires a line item's name (and a priced one's unitName) but lets it be blank.
        if _is_blank(item.get("name")):
            self._add(f"{field}.name", "NOTNULL")
        item_type = item.get("type")
        if item_type == "text":
            return
        if item_type in ("material", "service") and item.get("id") is None:
            # lexware office docs, "Line Items Details": service and material items reference
            # an article by its id (the spec's description, not a schema rule).
            self._add(f"{field}.id", "NOTNULL")
        self._amount(f"{field}.quantity", item.get("quantity"), required=False)
        if _is_blank(item.get("unitName")):
            self._add(f"{field}.unitName", "NOTNULL")
        self._unit_price(f"{field}.unitPrice", item.get("unitPrice") or {})
        self._percentage(f"{field}.discountPercentage", item.get("discountPercentage"))
        if self.kind != "quotation":
            return
        if sub_item and item.get("alternative") is not True:
            # lexware office docs, quotations endpoint, "Line Items Details": sub items are
            # alternatives of their item.
            self._add(f"{field}.alternative", "ASSERTTRUE", "sub items are alternatives")
        for index, sub in enumerate(item.get("subItems") or []):
            self._line_item(f"{field}.subItems[{index}]", sub, sub_item=True)

    def _amount(self, field: str, value: Any, *, required: bool) -> None:
        if value is None:
            if required:
                self._add(field, "NOTNULL")
        elif _decimals_of(value) > AMOUNT_DECIMALS:
            # lexware office docs, "Line Items Details": quantity and amounts take up to
            # 4 decimals (the spec's description, not a schema rule).
            self._add(field, "DIGITS", DIGITS_MESSAGE)

    def _unit_price(self, field: str, price: dict[str, Any]) -> None:
        # lexware office docs, "Unit Price Details": netAmount for net vouchers, grossAmount
        # for gross ones; the spec declares neither required.
        amount = "grossAmount" if self.tax_type == "gross" else "netAmount"
        self._amount(f"{field}.{amount}", price.get(amount), required=True)
        allowed = self._allowed_tax_rates()
        if allowed and _decimal(price["taxRatePercentage"]) not in allowed:
            self._add(f"{field}.taxRatePercentage", "TAXRATE", "invalid tax rate")

    def _allowed_tax_rates(self) -> tuple[Decimal, ...]:
        """The rates a line may carry; empty where this stand-in does not check them.
        lexware office docs, "Tax Conditions Details": vat-free tax types carry 0 % on every
        line; net and gross vouchers the German rates."""
        if self.tax_type in ("net", "gross"):
            # EU distance sales (a taxSubType) use the customer country's rates.
            return GERMAN_TAX_RATES if not self.tax_sub_type else ()
        return (Decimal(0),) if self.tax_type in VATFREE_TAX_TYPES else ()

    def _percentage(self, field: str, value: Any) -> None:
        # lexware office docs, line item and total price details: a discount percentage lies
        # between 0 and 100 (the spec declares only a number).
        if value is not None and not 0 <= value <= 100:
            self._add(field, "RANGE", "must be between 0 and 100")

    def _total_price(self, total: dict[str, Any]) -> None:
        self._percentage("totalPrice.totalDiscountPercentage", total.get("totalDiscountPercentage"))
        absolute: Any = total.get("totalDiscountAbsolute")
        if absolute is not None and absolute < 0:
            # lexware office docs, "Total Price Details": an absolute discount is not negative.
            self._add("totalPrice.totalDiscountAbsolute", "RANGE", "must not be negative")

    def _shipping_conditions(self, conditions: dict[str, Any]) -> None:
        # lexware office docs, invoices endpoint, "Shipping Conditions Details": a shipping date
        # unless shippingType is none, an end date for the period types.
        shipping_type = conditions.get("shippingType")
        self._date(
            "shippingConditions.shippingDate",
            conditions.get("shippingDate"),
            required=shipping_type != "none",
        )
        self._date(
            "shippingConditions.shippingEndDate",
            conditions.get("shippingEndDate"),
            required=shipping_type in ("serviceperiod", "deliveryperiod"),
        )


def preceding_problem(quotation: dict[str, Any] | None) -> Violation | None:
    """Why the quotation named by `precedingSalesVoucherId` cannot become an invoice."""
    if quotation is None:
        return Violation("precedingSalesVoucherId", "NOTFOUND", "voucher not found")
    if any(i.get("optional") or i.get("alternative") for i in quotation["lineItems"]):
        # Fact sheet: a quotation with optional or alternative items is refused with 406.
        return Violation("precedingSalesVoucherId", "OPTIONALITEMS", "optional items")
    return None


def related_voucher(voucher: dict[str, Any], kind: VoucherKind) -> dict[str, Any]:
    """A `relatedVouchers` entry (a draft has no number yet)."""
    number = {"voucherNumber": voucher["voucherNumber"]} if "voucherNumber" in voucher else {}
    return {"id": voucher["id"], **number, "voucherType": kind}


def voucherlist_entry(voucher: dict[str, Any]) -> dict[str, Any]:
    total = voucher.get("totalPrice", {})
    copied = ("id", "voucherType", "voucherStatus", "voucherDate", "createdDate", "updatedDate")
    return {
        **{key: voucher[key] for key in copied},
        "voucherNumber": voucher.get("voucherNumber", ""),
        "contactId": voucher["address"].get("contactId"),
        "contactName": voucher["address"].get("name", ""),
        "totalAmount": total.get("totalGrossAmount"),
        "currency": total.get("currency", "EUR"),
        "archived": voucher.get("archived", False),
    }


# -- the stored voucher --------------------------------------------------------------------


def without_nulls(value: Any) -> Any:
    """Drops null members: lexoffice's samples send read-only fields as null on create."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _price_line(item: dict[str, Any], tax_type: str) -> dict[str, Any]:
    """A priced line with both unit amounts and its `lineItemAmount` (net, or gross for gross
    vouchers), after the line discount."""
    price = dict(item["unitPrice"])
    factor = 1 + _decimal(price["taxRatePercentage"]) / 100
    gross = tax_type == "gross"
    unit = _decimal(price["grossAmount" if gross else "netAmount"])
    other = unit / factor if gross else unit * factor
    price["netAmount" if gross else "grossAmount"] = float(
        other.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    )
    discount = _decimal(item.get("discountPercentage", 0))
    amount = _decimal(item["quantity"]) * unit * (1 - discount / 100)
    line = {**item, "unitPrice": price, "discountPercentage": item.get("discountPercentage", 0)}
    line["lineItemAmount"] = _money(amount)
    return line


def priced_voucher(body: dict[str, Any], *, kind: VoucherKind) -> dict[str, Any]:
    """The voucher's writable content with line amounts, `totalPrice` and `taxAmounts` as
    lexoffice computes them: optional and alternative lines do not count."""
    voucher = without_nulls(body)
    tax_type = voucher["taxConditions"]["taxType"]
    lines: list[dict[str, Any]] = []
    per_rate: dict[Decimal, Decimal] = {}
    for item in voucher["lineItems"]:
        if item["type"] == "text":
            lines.append({k: item[k] for k in ("type", "name", "description") if k in item})
            continue
        line = _price_line(item, tax_type)
        if kind == "quotation":
            line["optional"] = bool(item.get("optional", False))
            line["alternative"] = bool(item.get("alternative", False))
            if item.get("subItems"):
                line["subItems"] = [_price_line(sub, tax_type) for sub in item["subItems"]]
        else:
            for quotation_only in ("optional", "alternative", "subItems"):
                line.pop(quotation_only, None)
        lines.append(line)
        if not line.get("optional") and not line.get("alternative"):
            rate = _decimal(line["unitPrice"]["taxRatePercentage"])
            per_rate[rate] = per_rate.get(rate, Decimal(0)) + _decimal(line["lineItemAmount"])
    voucher["lineItems"] = lines
    voucher["totalPrice"], voucher["taxAmounts"] = _totals(
        voucher["totalPrice"], per_rate, gross=tax_type == "gross"
    )
    return voucher


def _totals(
    total_price: dict[str, Any], per_rate: dict[Decimal, Decimal], *, gross: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = sum(per_rate.values(), Decimal(0))
    factor = Decimal(1)
    if total_price.get("totalDiscountPercentage") is not None:
        factor = 1 - _decimal(total_price["totalDiscountPercentage"]) / 100
    elif total_price.get("totalDiscountAbsolute") is not None and base:
        factor = max(Decimal(0), base - _decimal(total_price["totalDiscountAbsolute"])) / base
    tax_amounts: list[dict[str, Any]] = []
    total_net = total_tax = Decimal(0)
    for rate in sorted(per_rate):
        amount = (per_rate[rate] * factor).quantize(CENT, ROUND_HALF_UP)
        if gross:
            net = (amount / (1 + rate / 100)).quantize(CENT, ROUND_HALF_UP)
            tax = amount - net
        else:
            net = amount
            tax = (amount * rate / 100).quantize(CENT, ROUND_HALF_UP)
        total_net += net
        total_tax += tax
        tax_amounts.append(
            {"taxRatePercentage": float(rate), "taxAmount": _money(tax), "netAmount": _money(net)}
        )
    totals = {
        **total_price,
        "totalNetAmount": _money(total_net),
        "totalGrossAmount": _money(total_net + total_tax),
        "totalTaxAmount": _money(total_tax),
    }
    return totals, tax_amounts
