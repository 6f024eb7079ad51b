"""Wire-format helpers: key nesting, null / empty-array markers, PHP bools, serializers."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from app.sandbox.kaltura import wire
from app.sandbox.kaltura.errors import api_error


def test_nesting_of_flat_keys() -> None:
    tree = wire.nest(
        [
            ("entry:name", "a"),
            ("entry[tags]", "t"),
            ("0:entry[x][y]", "z"),
            ("list:-", ""),
            ("gone__null", ""),
        ]
    )
    assert tree["entry"] == {"name": "a", "tags": "t"}
    assert tree["0"] == {"entry": {"x": {"y": "z"}}}
    assert tree["list"] == []
    assert tree["gone"] is wire.NULL


def test_json_bodies_are_renested_and_nulls_kept() -> None:
    tree = wire.renest({"0": {"entry:name": "n"}, "a": None, "b": [], "c": [1, 2]})
    assert tree == {"0": {"entry": {"name": "n"}}, "a": wire.NULL, "b": [], "c": {"0": 1, "1": 2}}


def test_merge_is_array_replace_recursive() -> None:
    assert wire.merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 9}, "e": 2}) == {
        "a": {"b": 9, "c": 2},
        "d": 1,
        "e": 2,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("FALSE", False),
        ("False", False),
        ("", False),
        ("0", False),
        ("1", True),
        ("true", True),
        ("no", True),
        ("0.0", True),
        (True, True),
        (False, False),
        (0, False),
    ],
)
def test_php_bool(value: object, expected: bool) -> None:
    assert wire.php_bool(value) is expected


def test_php_int_and_params_errors() -> None:
    params = wire.Params({"n": "42", "bad": "4x", "f": "3.7"})
    assert params.integer("n") == 42
    assert params.integer("f") == 3
    with pytest.raises(Exception) as exc:
        params.integer("bad")
    assert getattr(exc.value, "code", "") == "PROPERTY_VALIDATION_NUMERIC_VALUE"
    with pytest.raises(Exception) as missing:
        params.text("nothing", required=True)
    assert getattr(missing.value, "args_map", {}) == {"PARAM_NAME": "nothing"}


def test_json_serializer_drops_nulls_and_puts_object_type_last() -> None:
    body, ctype = wire.serialize(
        {"objectType": "KalturaX", "a": 1, "b": None, "c": [{"objectType": "Y", "z": None}]}, 1, 0.1
    )
    assert ctype == "application/json"
    assert body == b'{"a":1,"c":[{"objectType":"Y"}],"objectType":"KalturaX"}'
    assert json.loads(wire.serialize(None, 1, 0)[0]) is None
    assert json.loads(wire.serialize("ks-string", 1, 0)[0]) == "ks-string"


def test_error_without_args_has_an_empty_array() -> None:
    body, _ = wire.serialize(api_error("MISSING_KS"), 1, 0)
    assert json.loads(body) == {
        "code": "MISSING_KS",
        "message": "Missing KS, session not established",
        "objectType": "KalturaAPIException",
        "args": [],
    }


def test_xml_serializer_escapes_and_strips_invalid_characters() -> None:
    body, ctype = wire.serialize(
        {"objectType": "K", "name": "<b>&\x01\"'", "flag": True, "n": 3}, 2, 0.5
    )
    assert ctype == "text/xml"
    root = etree.fromstring(body)
    result = root.find("result")
    assert result is not None
    assert [c.tag for c in result] == ["objectType", "name", "flag", "n"]
    assert result.findtext("name") == "<b>&\"'"
    assert result.findtext("flag") == "1"
    assert root.findtext("executionTime") == "0.500000"


def test_xml_multirequest_items_wrap_results_and_errors() -> None:
    body, _ = wire.serialize(["a", api_error("ENTRY_ID_NOT_FOUND", "0_x"), None], 2, 0)
    items = etree.fromstring(body).findall("result/item")
    assert items[0].text == "a"
    assert items[1].findtext("error/code") == "ENTRY_ID_NOT_FOUND"
    assert items[1].findtext("error/args/item/value") == "0_x"
    assert items[2].text is None
