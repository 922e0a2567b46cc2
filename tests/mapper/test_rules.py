"""A mapping's rules: values from properties, constants, templates and lookup tables, and
the checks on save against each vendor's spec limits."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import translation

from sync.mapping import rules, targets
from sync.mapping.rules import MappingInvalid, rules_from, value_of


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """The problems are read in English here, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


VALUES = {
    "deal": {"dealname": "Relaunch", "hs_object_id": "42", "zahlungsziel": "Netto 14"},
    "company": {"name": "Beispiel GmbH", "ust_id": "DE123456789"},
}


def source(**data: object) -> rules.Source:
    return rules.source_from(data)


def test_each_kind_of_source_gives_its_value() -> None:
    flow = targets.QUOTE
    assert value_of(source(kind="standard"), VALUES, flow=flow) is None
    assert value_of(source(kind="constant", value="Danke!"), VALUES, flow=flow) == "Danke!"
    assert value_of(source(kind="property", property="dealname"), VALUES, flow=flow) == "Relaunch"
    company_vat = source(kind="property", object="company", property="ust_id")
    assert value_of(company_vat, VALUES, flow=flow) == "DE123456789"
    template = source(kind="template", value="{dealname} – {hs_object_id} ({company.name})")  # noqa: RUF001
    assert value_of(template, VALUES, flow=flow) == "Relaunch – 42 (Beispiel GmbH)"  # noqa: RUF001
    lookup = source(
        kind="lookup",
        property="zahlungsziel",
        table=[["netto 14", "14"], ["Netto 30", "30"]],
        default="30",
    )
    assert value_of(lookup, VALUES, flow=flow) == "14"  # case does not matter
    assert value_of(lookup, {"deal": {"zahlungsziel": "sofort"}}, flow=flow) == "30"


def test_the_empty_mapping_is_the_standard_and_round_trips_as_json() -> None:
    assert rules_from({}).is_standard
    data = {
        "fields": {"quote.introduction": {"kind": "property", "object": "deal", "property": "x"}},
        "tax_rates": {"at": "20"},
        "default_debtor": "77",
        "exclusion_property": "zep",
    }
    parsed = rules_from(data)
    assert parsed.tax_rates == {"AT": Decimal(20)}
    assert rules_from(parsed.as_json()) == parsed
    assert parsed.properties(targets.QUOTE) == {"deal": {"x"}}


def test_a_required_vendor_field_cannot_be_left_empty() -> None:
    # lexware office requires a company's name; sevDesk a quote's header.
    empty_name = rules_from({"fields": {"customer.name": {"kind": "none"}}})
    with pytest.raises(MappingInvalid, match="required"):
        rules.check(empty_name, system="lexoffice")
    empty_header = rules_from({"fields": {"quote.title": {"kind": "constant", "value": ""}}})
    with pytest.raises(MappingInvalid, match="required"):
        rules.check(empty_header, system="sevdesk")
    # Where the spec does not require the field, leaving it empty is the user's choice.
    rules.check(rules_from({"fields": {"quote.title": {"kind": "none"}}}), system="lexoffice")


def test_a_constant_longer_than_the_vendor_allows_is_refused_with_the_limit() -> None:
    too_long = rules_from({"fields": {"quote.title": {"kind": "constant", "value": "x" * 26}}})
    with pytest.raises(MappingInvalid) as refused:
        rules.check(too_long, system="lexoffice")
    assert "26" in refused.value.problems[0]
    assert "25" in refused.value.problems[0]
    # bexio's spec sets no length on its title.
    rules.check(too_long, system="bexio")
    qonto_terms = {"kind": "lookup", "property": "p", "table": [["a", "y" * 3001]]}
    with pytest.raises(MappingInvalid, match="3000"):
        rules.check(rules_from({"fields": {"quote.remark": qonto_terms}}), system="qonto")


def test_a_field_the_vendor_does_not_have_and_a_term_that_is_no_number_are_refused() -> None:
    term = rules_from({"fields": {"quote.payment_term": {"kind": "constant", "value": "14"}}})
    with pytest.raises(MappingInvalid, match="no such field"):
        rules.check(term, system="bexio")  # kb_offer has no payment term
    rules.check(term, system="lexoffice")
    words = rules_from({"fields": {"quote.payment_term": {"kind": "constant", "value": "bald"}}})
    with pytest.raises(MappingInvalid, match="number of days"):
        rules.check(words, system="lexoffice")


def test_a_property_the_portal_does_not_have_is_refused() -> None:
    mapped = rules_from(
        {"fields": {"quote.title": {"kind": "template", "value": "{dealname} {nope}"}}}
    )
    known = {"deal": {"dealname"}, "company": set(), "contact": set()}
    with pytest.raises(MappingInvalid, match="nope"):
        rules.check(mapped, system="lexoffice", known=known)


def test_the_limits_come_from_the_spec_files() -> None:
    limits = {vt.target.key: vt.spec.max_length for vt in targets.targets_for("lexoffice", "quote")}
    assert limits["quote.title"] == 25
    assert limits["quote.introduction"] == 2000
    qonto = {vt.target.key: vt.spec for vt in targets.targets_for("qonto", "quote")}
    assert qonto["quote.remark"].max_length == 3000
    assert qonto["quote.remark"].required


def test_every_target_has_a_note_in_the_activity_log() -> None:
    from sync.mapping.apply import field_note
    from sync.messages import TEXTS, Message

    for target in targets.TARGETS:
        note = field_note(target.key, 3)
        assert note.code in TEXTS
        assert "(version 3)" in str(Message(note.code, dict(note.params)).text_in("en"))


def test_a_template_whose_fixed_text_alone_is_too_long_is_refused() -> None:
    fixed = "Angebot für Ihr Projekt vom "  # 28 characters; lexware office's title takes 25
    too_long = rules_from(
        {"fields": {"quote.title": {"kind": "template", "value": fixed + "{closedate}"}}}
    )
    with translation.override("en"), pytest.raises(MappingInvalid) as refused:
        rules.check(too_long, system="lexoffice")
    [problem] = refused.value.problems
    assert "fixed text alone is 27 characters long" in problem
    assert "at most 25" in problem
    # Placeholders count for nothing: a template that fits without its values is saved.
    fits = rules_from(
        {
            "fields": {
                "quote.title": {"kind": "template", "value": "Angebot {dealname} {hs_object_id}"}
            }
        }
    )
    rules.check(fits, system="lexoffice")
    # Where the spec sets no length (bexio's title), the template is not refused.
    rules.check(too_long, system="bexio")
