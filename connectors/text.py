"""Text as every vendor compares it: whitespace collapsed, and case aside for matching."""

import re


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def normalized(text: str) -> str:
    """For comparing names: a vendor's search matches loosely, its answer is compared here."""
    return clean(text).casefold()
