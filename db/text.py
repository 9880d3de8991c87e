"""Folding names into search and sort keys that ignore accents, case, spaces and punctuation."""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def search_key(text: str) -> str:
    """"Đà Nẵng", "Da Nang" and "danang" all fold to "danang".

    anyascii transliterates letters that Unicode decomposition leaves alone
    (Đ, Ł, Ø) and every script, so the key is plain ASCII on every database.
    """
    return _NOT_ALNUM.sub("", anyascii(unicodedata.normalize("NFC", text)).lower())


def sort_key(text: str) -> str:
    """A key that orders names alphabetically whatever their accents, keeping word breaks."""
    folded = anyascii(unicodedata.normalize("NFC", text)).lower()
    return " ".join(_NOT_ALNUM.sub(" ", folded).split())
