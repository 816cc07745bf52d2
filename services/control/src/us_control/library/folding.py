"""What search and sorting compare: text folded in Python, so the database's locale never matters.

Postgres folds case (``lower``, the text search parser) with the database's ``LC_CTYPE``: in a
``C`` database "É" stays "É", and ``unaccent`` knows Latin only. The catalog therefore stores
what it compares, computed here once per tag at scan time and once per query:

- :func:`fold`: accents dropped (NFKD minus combining marks, plus the Latin letters that do
  not decompose: ø, ł, đ, æ, œ, ß…), Unicode case folding; any script ("東京" stays "東京").
- :func:`index_words`: the words a field is found by (lexemes of the ``search_words``
  tsvector). A word is a run of letters and digits; apostrophes inside a word vanish ("don't"
  is "dont"); a word written with joiners ("AC/DC", "R.E.M.", "Re-entry") is found by its
  parts and by the parts joined ("acdc", "rem", "reentry").
- :func:`query_words`: the words of a query, each matched as a word prefix.
- :func:`sort_name`, :func:`sort_key`: an artist without a leading "The " / "A ", and the
  byte-comparable key every list sorts by (compared with ``COLLATE "C"``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Longest word kept (tsvector lexemes must stay under 2 KiB; nobody types more than this).
MAX_WORD_CHARS = 64
# A separator below every printable character, so "Abba" sorts before "Abba Gold".
KEY_SEPARATOR = "\x1f"

# Latin letters with no Unicode decomposition, folded as unaccent and a reader would fold them.
_UNDECOMPOSABLE = str.maketrans(
    {
        "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d",
        "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ı": "i", "ŀ": "l", "Ŀ": "l", "ƒ": "f",
        "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ß": "ss", "ẞ": "ss",
    }
)  # fmt: skip
_APOSTROPHE_IN_WORD = re.compile(r"(?<=[^\W_])['’ʼ`´](?=[^\W_])")
_WORD = re.compile(r"[^\W_]+")
# Words joined by one of - . / & + (no spaces): "ac/dc", "r.e.m", "re-entry", "r&b".
_JOINED = re.compile(r"[^\W_]+(?:[-./&+][^\W_]+)+")
_LEADING_ARTICLE = re.compile(r"^(?:the|a)\s+(?=\S)", re.IGNORECASE)


def fold(text: str) -> str:
    """``text`` without accents and case, for comparisons that ignore both."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare.casefold().translate(_UNDECOMPOSABLE))


def _plain(text: str) -> str:
    return _APOSTROPHE_IN_WORD.sub("", fold(text))


def query_words(text: str) -> list[str]:
    """The words of a query in order (duplicates kept out), each at most ``MAX_WORD_CHARS``."""
    return list(dict.fromkeys(word[:MAX_WORD_CHARS] for word in _WORD.findall(_plain(text))))


def index_words(*fields: str) -> list[str]:
    """Every word ``fields`` are found by, sorted and unique (the tsvector's lexemes)."""
    found: set[str] = set()
    for field in fields:
        plain = _plain(field)
        found.update(word[:MAX_WORD_CHARS] for word in _WORD.findall(plain))
        for joined in _JOINED.findall(plain):
            found.add("".join(_WORD.findall(joined))[:MAX_WORD_CHARS])
    return sorted(found)


def match_key(text: str) -> str:
    """A field as its words joined by spaces: what "exact" and "starts with" compare."""
    return " ".join(_WORD.findall(_plain(text)))


def tsquery(words: Iterable[str]) -> str:
    """A ``tsquery`` literal: every word as a prefix, all required. Words are letters and digits
    only (see :func:`query_words`), so quoting cannot be broken out of."""
    return " & ".join(f"'{word}':*" for word in words)


def sort_name(name: str) -> str:
    """An artist's name as it sorts: without a leading "The " or "A " ("The The" stays)."""
    stripped = _LEADING_ARTICLE.sub("", name, count=1)
    return stripped if stripped.strip() else name


def sort_key(*parts: str) -> str:
    """Folded parts joined by a separator that sorts below every character."""
    return KEY_SEPARATOR.join(fold(part) for part in parts)
