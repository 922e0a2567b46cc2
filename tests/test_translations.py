"""Every text of the product exists in German and French, and each compiled catalogue matches
its source."""

import gettext
import re
from pathlib import Path

import pytest

LOCALES = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ["de", "fr"]


def _entries(language: str) -> list[tuple[str, str, bool]]:
    entries = []
    for raw in LOCALES.joinpath(language, "LC_MESSAGES", "django.po").read_text().split("\n\n")[1:]:
        fuzzy = "#, fuzzy" in raw
        block = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
        msgid = "".join(re.findall(r'"(.*)"', block.split("msgstr")[0].split("msgid", 1)[1]))
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1]))
        if msgid:
            entries.append((msgid, msgstr, fuzzy))
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_has_a_translation(language: str) -> None:
    entries = _entries(language)
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert untranslated == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_is_current(language: str) -> None:
    with LOCALES.joinpath(language, "LC_MESSAGES", "django.mo").open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for msgid, msgstr, _ in _entries(language):
        if "msgid_plural" in msgid or "\\" in msgid:
            continue
        assert catalogue.gettext(msgid) == msgstr, msgid
