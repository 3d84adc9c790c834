"""PHP-style parameter parsing: brackets, lists, percent-decoding, JSON bodies, key case."""

from __future__ import annotations

import pytest

from b24app.sandbox.params import ParamsError, parse_query, request_params, upper_keys


def test_brackets_nest_and_lists_become_lists():
    got = parse_query("FILTER%5B%3E%3DID%5D=5&FILTER%5BCALL_TYPE%5D=2&cmd%5Bk%5D=user.current&ids%5B0%5D=1"
                      "&ids%5B1%5D=2&tags%5B%5D=a&tags%5B%5D=b&q=%D0%B7%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA+1")
    assert got == {"FILTER": {">=ID": "5", "CALL_TYPE": "2"}, "cmd": {"k": "user.current"}, "ids": ["1", "2"],
                   "tags": ["a", "b"], "q": "звонок 1"}


def test_unencoded_equals_in_a_key_breaks_the_pair_like_php():
    # PHP splits at the first "=", so FILTER[>=ID]=5 unencoded loses the condition; clients must encode.
    assert "FILTER" not in parse_query("FILTER[>=ID]=5")


def test_sparse_indexes_stay_a_mapping():
    assert parse_query("a[5]=x&a[7]=y") == {"a": {"5": "x", "7": "y"}}


def test_query_then_form_then_json_body():
    assert request_params("a=1&b=1", "application/x-www-form-urlencoded", b"b=2&c[x]=3") == \
        {"a": "1", "b": "2", "c": {"x": "3"}}
    assert request_params("a=1", "application/json", b'{"a": 2, "f": {">ID": 5}}') == {"a": 2, "f": {">ID": 5}}


def test_bad_json_is_refused():
    with pytest.raises(ParamsError):
        request_params("", "application/json", b"{nope")


@pytest.mark.parametrize("strict,expected", [(False, {"FILTER": {"b": 2}, "SORT": "ID"}),
                                             (True, {"FILTER": {"b": 2}})])
def test_upper_keys_later_duplicate_wins(strict, expected):
    assert upper_keys({"filter": {"a": 1}, "FILTER": {"b": 2}, "sort": "ID"}, strict=strict) == expected
