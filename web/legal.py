"""The terms and the privacy policy a customer accepts at signup.

The pages shipped here are placeholders in German, English and French for the operator to
replace: either by their own templates (`legal/<page>.<language>.html` in a template folder
that comes first) or by links to pages hosted elsewhere (`LEGAL_TERMS_URL`,
`LEGAL_PRIVACY_URL`).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language

PAGES = {"terms": "LEGAL_TERMS_URL", "privacy": "LEGAL_PRIVACY_URL"}


def legal_url(page: str) -> str:
    """Where a link to the page points: the operator's own page if set, else ours."""
    return str(getattr(settings, PAGES[page], "")) or reverse(f"legal:{page}")


def legal_links(request: HttpRequest) -> dict[str, str]:
    """Template context: the links to the terms and the privacy policy."""
    return {"legal_terms_url": legal_url("terms"), "legal_privacy_url": legal_url("privacy")}


def legal_page(request: HttpRequest, page: str) -> HttpResponse:
    external = str(getattr(settings, PAGES[page], ""))
    if external:
        return redirect(external)
    language = (get_language() or "en")[:2]
    return render(
        request,
        [f"legal/{page}.{language}.html", f"legal/{page}.en.html"],
        {"terms_version": settings.TERMS_VERSION},
    )
