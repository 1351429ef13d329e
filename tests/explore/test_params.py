"""The API's parameter parsers: one plain form per value, bounded, one-line errors."""

import pytest

from sahit.explore.params import (
    MAX_QUERY_CHARS,
    SEED_MAX,
    Query,
    check_names,
    parse_float,
    parse_index_list,
    parse_int,
    parse_query,
)


def test_parse_int_accepts_plain_digits_in_range():
    assert parse_int("seed", "0", 0, SEED_MAX) == 0
    assert parse_int("seed", str(SEED_MAX), 0, SEED_MAX) == SEED_MAX
    assert parse_int("x", "007", 0, 31) == 7


@pytest.mark.parametrize("text", ["", "-1", "+1", "1.0", "1e3", " 1", "1 ", "0x10", "١٢", "../1", "nan", "99999999999",
                                  str(SEED_MAX + 1), "1_000"])
def test_parse_int_refuses_everything_else(text):
    with pytest.raises(ValueError) as info:
        parse_int("seed", text, 0, SEED_MAX)
    assert "\n" not in str(info.value) and "seed" in str(info.value)


def test_parse_float_bounds_and_forms():
    assert parse_float("truncation", "4", 0, 4, low_open=True) == 4.0
    assert parse_float("truncation", ".5", 0, 4, low_open=True) == 0.5
    assert parse_float("t", "0", 0, 1) == 0.0
    for text in ["0", "0.0", "4.01", "-1", "inf", "nan", "1e-3", "", ".", "1,5", "0x1p1", "1..2"]:
        with pytest.raises(ValueError):
            parse_float("truncation", text, 0, 4, low_open=True)


def test_index_list_and_names():
    assert parse_index_list("off", "2,0", [0, 1, 2]) == (0, 2)
    assert parse_index_list("off", "", [0]) == ()
    for text in ["3", "0,0", "0,", ",", "a", "../0", "-1"]:
        with pytest.raises(ValueError):
            parse_index_list("off", text, [0, 1, 2])
    check_names([("seed", "1"), ("cls", "2")], ("seed", "cls"))
    for pairs, qs in ([("seed", "1"), ("seed", "2")], ""), ([("bogus", "1")], ""), ([("seed", "9" * 100)], ""), \
                     ([], "x" * (MAX_QUERY_CHARS + 1)):
        with pytest.raises(ValueError):
            check_names(pairs, ("seed", "cls"), qs)


def test_parse_query():
    assert parse_query({"cls": "3", "seed": "5", "truncation": "1.5"}, 10, [0]) == Query(3, 5, 1.5, ())
    assert parse_query({"seed": "5"}, 0, []) == Query(None, 5, None, ())
    with pytest.raises(ValueError, match="cls"):
        parse_query({"seed": "5"}, 10, [])  # conditional: cls required
    with pytest.raises(ValueError, match="unconditional"):
        parse_query({"cls": "0", "seed": "5"}, 0, [])
    with pytest.raises(ValueError, match="within 0..9"):
        parse_query({"cls": "10", "seed": "5"}, 10, [])
