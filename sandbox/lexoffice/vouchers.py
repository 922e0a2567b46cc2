"""Sales vouchers (quotations and invoices): lexoffice's validation rules and the totals it
computes from the line items."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sandbox.lexoffice.errors import Violation

VoucherKind = Literal["quotation", "invoice"]

LINE_ITEM_TYPES = ("custom", "material", "service", "text")
TAX_TYPES = (
    "net",
    "gross",
    "vatfree",
    "intraCommunitySupply",
    "constructionService13b",
    "externalService13b",
    "thirdPartyCountryService",
    "thirdPartyCountryDelivery",
    "photovoltaicEquipment",
)
SHIPPING_TYPES = ("service", "serviceperiod", "delivery", "deliveryperiod", "none")
# German rates in force today; a voucher dated before mid-2020 or after a rate change would
# need the rates of its voucher date, which this stand-in does not model.
GERMAN_TAX_RATES = (Decimal(0), Decimal(7), Decimal(19))
MAX_LINE_ITEMS = 300
AMOUNT_DECIMALS = 4
TEXT_LIMITS = {"title": 25, "introduction": 2000, "remark": 2000, "deliveryTerms": 255}
LINE_ITEM_NAME_MAX = 255
LINE_ITEM_DESCRIPTION_MAX = 2000
LANGUAGES = ("de", "en")
# yyyy-MM-ddTHH:mm:ss.SSSXXX: three-digit milliseconds, and an offset with a colon (or Z).
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")
DATE_FORMAT = "yyyy-MM-ddTHH:mm:ss.SSSXXX"
CENT = Decimal("0.01")

ContactLookup = Callable[[str], "dict[str, Any] | None"]


def not_null(field: str) -> Violation:
    return Violation(field, "NOTNULL", "darf nicht null sein")


def too_long(field: str, limit: int) -> Violation:
    return Violation(field, "SIZE", f"Größe muss zwischen 0 und {limit} sein")


def percentage_out_of_range(field: str) -> Violation:
    return Violation(field, "RANGE", "must be between 0 and 100")


def not_one_of(field: str, allowed: tuple[str, ...]) -> Violation:
    return Violation(field, "PATTERN", f"must be one of {', '.join(allowed)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    """Collects every violation of one voucher body, as lexoffice lists them all at once."""

    def __init__(
        self, body: dict[str, Any], *, kind: VoucherKind, contact_of: ContactLookup
    ) -> None:
        self.body = body
        self.kind = kind
        self.contact_of = contact_of
        self.violations: list[Violation] = []
        tax_conditions = body.get("taxConditions")
        self.tax_type = tax_conditions.get("taxType") if isinstance(tax_conditions, dict) else None
        self.tax_sub_type = (
            tax_conditions.get("taxSubType") if isinstance(tax_conditions, dict) else None
        )

    def run(self) -> list[Violation]:
        body = self.body
        self._date("voucherDate", body.get("voucherDate"), required=True)
        if self.kind == "quotation":
            self._date("expirationDate", body.get("expirationDate"), required=True)
        self._address(body.get("address"))
        self._line_items(body.get("lineItems"))
        self._total_price(body.get("totalPrice"))
        self._tax_conditions(body.get("taxConditions"))
        if self.kind == "invoice":
            self._shipping_conditions(body.get("shippingConditions"))
        for field, limit in TEXT_LIMITS.items():
            self._text(field, body.get(field), limit)
        if body.get("language") is not None and body["language"] not in LANGUAGES:
            self.violations.append(not_one_of("language", LANGUAGES))
        return self.violations

    def _add(self, violation: Violation) -> None:
        self.violations.append(violation)

    def _date(self, field: str, value: Any, *, required: bool) -> None:
        if value is None:
            if required:
                self._add(not_null(field))
        elif not is_lexoffice_date(value):
            self._add(Violation(field, "PATTERN", f"must match {DATE_FORMAT}"))

    def _text(self, field: str, value: Any, limit: int) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self._add(Violation(field, "PATTERN", "must be a string"))
        elif len(value) > limit:
            self._add(too_long(field, limit))

    def _address(self, address: Any) -> None:
        if not isinstance(address, dict):
            self._add(not_null("address"))
            return
        contact_id = address.get("contactId")
        if contact_id is not None:
            contact = self.contact_of(str(contact_id))
            if contact is None:
                self._add(Violation("address.contactId", "NOTFOUND", "contact not found"))
            elif "customer" not in contact["roles"]:
                # Sales vouchers may only reference contacts that carry the customer role.
                self._add(
                    Violation("address.contactId", "CUSTOMERROLE", "contact is not a customer")
                )
            return
        for field in ("name", "countryCode"):
            if not isinstance(address.get(field), str) or not address[field].strip():
                self._add(not_null(f"address.{field}"))

    def _line_items(self, items: Any) -> None:
        if not isinstance(items, list) or not items:
            self._add(not_null("lineItems"))
            return
        if len(items) > MAX_LINE_ITEMS:
            self._add(too_long("lineItems", MAX_LINE_ITEMS))
        for index, item in enumerate(items):
            self._line_item(f"lineItems[{index}]", item, sub_item=False)

    def _line_item(self, field: str, item: Any, *, sub_item: bool) -> None:
        if not isinstance(item, dict):
            self._add(not_null(field))
            return
        item_type = item.get("type")
        if item_type is None:
            self._add(not_null(f"{field}.type"))
        elif item_type not in LINE_ITEM_TYPES:
            self._add(not_one_of(f"{field}.type", LINE_ITEM_TYPES))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self._add(not_null(f"{field}.name"))
        elif len(name) > LINE_ITEM_NAME_MAX:
            self._add(too_long(f"{field}.name", LINE_ITEM_NAME_MAX))
        self._text(f"{field}.description", item.get("description"), LINE_ITEM_DESCRIPTION_MAX)
        if item_type == "text":
            return
        if item_type in ("material", "service") and item.get("id") is None:
            # These types reference an article by its id.
            self._add(not_null(f"{field}.id"))
        self._amount(f"{field}.quantity", item.get("quantity"), required=True)
        unit_name = item.get("unitName")
        if not isinstance(unit_name, str) or not unit_name.strip():
            self._add(not_null(f"{field}.unitName"))
        self._unit_price(f"{field}.unitPrice", item.get("unitPrice"))
        discount = item.get("discountPercentage")
        if discount is not None and (not _is_number(discount) or not 0 <= discount <= 100):
            self._add(
                Violation(f"{field}.discountPercentage", "RANGE", "must be between 0 and 100")
            )
        if self.kind != "quotation":
            return
        if sub_item and item.get("alternative") is not True:
            self._add(Violation(f"{field}.alternative", "ASSERTTRUE", "sub items are alternatives"))
        sub_items = item.get("subItems")
        if isinstance(sub_items, list):
            for index, sub in enumerate(sub_items):
                self._line_item(f"{field}.subItems[{index}]", sub, sub_item=True)

    def _amount(self, field: str, value: Any, *, required: bool) -> None:
        if value is None:
            if required:
                self._add(not_null(field))
        elif not _is_number(value):
            self._add(Violation(field, "PATTERN", "must be a number"))
        elif _decimals_of(value) > AMOUNT_DECIMALS:
            self._add(
                Violation(
                    field,
                    "DIGITS",
                    "numerischer Wert außerhalb des gültigen Bereichs "
                    f"(<16 Ziffern>.<{AMOUNT_DECIMALS} Ziffern> erwartet)",
                )
            )

    def _unit_price(self, field: str, price: Any) -> None:
        if not isinstance(price, dict):
            self._add(not_null(field))
            return
        self._currency(f"{field}.currency", price.get("currency"))
        amount = "grossAmount" if self.tax_type == "gross" else "netAmount"
        self._amount(f"{field}.{amount}", price.get(amount), required=True)
        rate = price.get("taxRatePercentage")
        if rate is None:
            self._add(not_null(f"{field}.taxRatePercentage"))
        elif not _is_number(rate):
            self._add(Violation(f"{field}.taxRatePercentage", "PATTERN", "must be a number"))
        elif (allowed := self._allowed_tax_rates()) and _decimal(rate) not in allowed:
            self._add(Violation(f"{field}.taxRatePercentage", "TAXRATE", "invalid tax rate"))

    def _allowed_tax_rates(self) -> tuple[Decimal, ...]:
        """The rates a line may carry; empty where this stand-in does not check them."""
        if self.tax_type in ("net", "gross"):
            # EU distance sales (a taxSubType) use the customer country's rates.
            return GERMAN_TAX_RATES if not self.tax_sub_type else ()
        # Vat-free kinds of vouchers carry no tax on any line.
        return (Decimal(0),) if self.tax_type in TAX_TYPES else ()

    def _currency(self, field: str, currency: Any) -> None:
        if currency is None:
            self._add(not_null(field))
        elif currency != "EUR":
            self._add(Violation(field, "CURRENCY", "Currently only EUR is supported"))

    def _total_price(self, total: Any) -> None:
        if not isinstance(total, dict):
            self._add(not_null("totalPrice"))
            return
        self._currency("totalPrice.currency", total.get("currency"))
        discount = total.get("totalDiscountPercentage")
        if discount is not None and (not _is_number(discount) or not 0 <= discount <= 100):
            self._add(
                Violation(
                    "totalPrice.totalDiscountPercentage", "RANGE", "must be between 0 and 100"
                )
            )
        absolute = total.get("totalDiscountAbsolute")
        if absolute is not None and (not _is_number(absolute) or absolute < 0):
            self._add(
                Violation("totalPrice.totalDiscountAbsolute", "RANGE", "must not be negative")
            )

    def _tax_conditions(self, conditions: Any) -> None:
        if not isinstance(conditions, dict) or conditions.get("taxType") is None:
            self._add(not_null("taxConditions.taxType"))
        elif conditions["taxType"] not in TAX_TYPES:
            self._add(not_one_of("taxConditions.taxType", TAX_TYPES))

    def _shipping_conditions(self, conditions: Any) -> None:
        if not isinstance(conditions, dict) or conditions.get("shippingType") is None:
            self._add(not_null("shippingConditions.shippingType"))
            return
        shipping_type = conditions["shippingType"]
        if shipping_type not in SHIPPING_TYPES:
            self._add(not_one_of("shippingConditions.shippingType", SHIPPING_TYPES))
            return
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


def voucher_violations(
    body: dict[str, Any], *, kind: VoucherKind, contact_of: ContactLookup
) -> list[Violation]:
    return VoucherCheck(body, kind=kind, contact_of=contact_of).run()


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
    rate = _decimal(price["taxRatePercentage"])
    factor = 1 + rate / 100
    if tax_type == "gross":
        gross = _decimal(price["grossAmount"])
        price["netAmount"] = float((gross / factor).quantize(Decimal("0.0001"), ROUND_HALF_UP))
        unit = gross
    else:
        net = _decimal(price["netAmount"])
        price["grossAmount"] = float((net * factor).quantize(Decimal("0.0001"), ROUND_HALF_UP))
        unit = net
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
