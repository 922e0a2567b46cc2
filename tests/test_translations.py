"""Every text of the product exists in German and French, and each compiled catalogue matches
its source."""

import gettext
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locale"
LANGUAGES = ["de", "fr"]
# The product's own catalogues, and the one that replaces texts of installed apps.
CATALOGUES = [LOCALES / language for language in LANGUAGES] + [ROOT / "locale_overrides" / "de"]


def _entries(language: str) -> list[tuple[str, str, bool]]:
    return _entries_of(LOCALES / language)


def _entries_of(folder: Path) -> list[tuple[str, str, bool]]:
    entries = []
    for raw in folder.joinpath("LC_MESSAGES", "django.po").read_text().split("\n\n")[1:]:
        fuzzy = "#, fuzzy" in raw
        block = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
        if "msgid" not in block:
            continue  # an obsolete entry (#~), kept by makemessages but not compiled
        msgid = "".join(re.findall(r'"(.*)"', block.split("msgstr")[0].split("msgid", 1)[1]))
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1]))
        if msgid and "msgid_plural" in block:
            # The compiled check below looks up singular texts; a plural's forms are checked
            # for presence only.
            msgid = "msgid_plural:" + msgid
        if msgid:
            entries.append((msgid, msgstr, fuzzy))
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_has_a_translation(language: str) -> None:
    entries = _entries(language)
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert untranslated == []


@pytest.mark.parametrize("folder", CATALOGUES, ids=lambda f: str(f.relative_to(ROOT)))
def test_the_compiled_catalogue_is_current(folder: Path) -> None:
    with folder.joinpath("LC_MESSAGES", "django.mo").open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for msgid, msgstr, _ in _entries_of(folder):
        if msgid.startswith("msgid_plural:") or "\\" in msgid:
            continue
        assert catalogue.gettext(msgid) == msgstr, msgid


# Informal German: the pronouns and the imperatives allauth's catalogue uses.
INFORMAL = re.compile(
    r"\b(du|dich|dir|dein\w*|bist|hast|kannst|musst|möchtest|gib|wähle|versuche|bestätige|"
    r"melde|klick|kontaktiere|lass|erstelle)\b",
    re.IGNORECASE,
)


def test_the_account_pages_and_mails_address_german_users_formally() -> None:
    import allauth
    from django.utils import translation

    allauth_catalogue = (
        Path(allauth.__file__).parent / "locale" / "de" / "LC_MESSAGES" / "django.po"
    )
    informal = []
    with translation.override("de"):
        for raw in allauth_catalogue.read_text().split("\n\n")[1:]:
            if "msgid_plural" in raw or "msgctxt" in raw or raw.startswith("#~"):
                continue
            block = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
            if "msgid" not in block:
                continue
            msgid = "".join(re.findall(r'"(.*)"', block.split("msgstr")[0].split("msgid", 1)[1]))
            msgid = msgid.encode().decode("unicode_escape").encode("latin-1").decode()
            if msgid and INFORMAL.search(translation.gettext(msgid)):
                informal.append(translation.gettext(msgid))
    assert informal == []
