"""What search and sorting compare (``us_control.library.folding``): plain functions, no database."""

from __future__ import annotations

import pytest

from us_control.library.folding import (
    MAX_WORD_CHARS,
    fold,
    index_words,
    match_key,
    query_words,
    sort_key,
    sort_name,
    tsquery,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Café", "cafe"),
        ("ÜNÏCØDÉ", "unicode"),
        ("Ünïcødé", "unicode"),
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("Æon Œuvre", "aeon oeuvre"),
        ("東京", "東京"),
        ("Ночь", "ночь"),
        ("ΘΆΛΑΣΣΑ", "θαλασσα"),
        ("ﬁne", "fine"),  # compatibility ligature
    ],
)
def test_fold_drops_case_and_accents_in_every_script(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_index_words_are_folded_words_of_every_field_with_joined_forms() -> None:
    assert index_words("The Slow Orbits", "Paper Satellites") == [
        "orbits",
        "paper",
        "satellites",
        "slow",
        "the",
    ]
    assert index_words("AC/DC") == ["ac", "acdc", "dc"]
    assert index_words("R.E.M.") == ["e", "m", "r", "rem"]
    assert index_words("Re-entry") == ["entry", "re", "reentry"]
    assert index_words("Don't Stop") == ["dont", "stop"]
    assert index_words("100% Cotton", "snake_case") == ["100", "case", "cotton", "snake"]
    assert index_words("東京 Tower") == ["tower", "東京"]
    assert index_words("") == []
    assert index_words("x" * 500) == ["x" * MAX_WORD_CHARS]


def test_query_words_keep_order_without_duplicates_or_punctuation() -> None:
    assert query_words("orbits  SLOW orbits") == ["orbits", "slow"]
    assert query_words("don’t") == ["dont"]
    assert query_words("%_\\'\"") == []
    assert query_words("' OR 1=1 --") == ["or", "1"]


def test_tsquery_is_prefixes_of_plain_words_only() -> None:
    # Only letters and digits reach the quotes, so a query cannot break out of them.
    assert tsquery(query_words("Café  o'brien:*|!")) == "'cafe':* & 'obrien':*"
    assert tsquery([]) == ""


def test_match_key_is_the_words_joined() -> None:
    assert match_key("  The SLOW-orbits!! ") == "the slow orbits"
    assert match_key("Don't") == "dont"


@pytest.mark.parametrize(
    ("name", "sorted_as"),
    [
        ("The Slow Orbits", "Slow Orbits"),
        ("A Tribe Called Quest", "Tribe Called Quest"),
        ("the the", "the"),
        ("The", "The"),
        ("A", "A"),
        ("Abba", "Abba"),
        ("A-ha", "A-ha"),
        ("Theatre", "Theatre"),
    ],
)
def test_sort_name_drops_a_leading_the_or_a(name: str, sorted_as: str) -> None:
    assert sort_name(name) == sorted_as


def test_sort_keys_compare_folded_and_part_by_part() -> None:
    names = ["Zebra", "abba gold", "Abba", "Émile", "eagle"]
    assert sorted(names, key=lambda n: sort_key(n)) == ["Abba", "abba gold", "eagle", "Émile", "Zebra"]
    # The separator sorts below every character: ("Abba", "Z") before ("Abba Gold", "A").
    assert sort_key("Abba", "Z") < sort_key("Abba Gold", "A")
