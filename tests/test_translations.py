"""Every text of the product exists in German, and the compiled catalogue matches the source."""

import gettext
import re
from pathlib import Path

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "de" / "LC_MESSAGES"


def _entries() -> list[tuple[str, str, bool]]:
    entries = []
    for raw in LOCALE.joinpath("django.po").read_text().split("\n\n")[1:]:
        fuzzy = "#, fuzzy" in raw
        block = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
        msgid = "".join(re.findall(r'"(.*)"', block.split("msgstr")[0].split("msgid", 1)[1]))
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1]))
        if msgid:
            entries.append((msgid, msgstr, fuzzy))
    return entries


def test_every_text_has_a_german_translation() -> None:
    entries = _entries()
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert untranslated == []


def test_the_compiled_catalogue_is_current() -> None:
    with LOCALE.joinpath("django.mo").open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for msgid, msgstr, _ in _entries():
        if "msgid_plural" in msgid or "\\" in msgid:
            continue
        assert catalogue.gettext(msgid) == msgstr, msgid
