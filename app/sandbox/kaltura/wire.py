"""Kaltura API v3 wire format: decoding a request into parameters, and serializing
results and errors as JSON (``format=1``) or the XML envelope (``format=2``, the default).

Decoding follows infraRequestUtils ``getRequestParams`` (docs/protocols.md, "Kaltura:
request encoding"): the parameters are
``array_replace_recursive(POST, FILES, URL)``, where POST is a JSON body only when the
Content-Type is exactly ``application/json``, the ``json`` field of a multipart body, or a
plain form; URL is the ``/key/value`` path segments plus the query string, so URL params
win. Flat keys nest on ``:`` and ``[...]`` (``entry:name``, ``entry[name]``); ``key__null``
sends an explicit null and a ``-`` key an empty array. A malformed JSON body is ignored, as
PHP's ``json_decode`` returning null is: the request then fails on its missing parameters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.datastructures import FileStorage

from app.sandbox.kaltura.errors import KalturaAPIException, api_error

FORMAT_JSON = 1
FORMAT_XML = 2

NULL = object()  # marks an explicit ``__null`` so it survives merging

_BRACKET = re.compile(r"\[([^\]]*)\]")
# XML 1.0 forbids most control characters even when escaped.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def split_key(key: str) -> list[str]:
    """``entry:name`` / ``entry[name]`` / ``0:entry[tags]`` -> path segments."""
    if ":" not in key and "[" not in key:
        return [key]
    flat = _BRACKET.sub(lambda m: ":" + m.group(1), key)
    parts = [p for p in flat.split(":") if p != ""]
    return parts or [key]


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for seg in path[:-1]:
        child = node.get(seg)
        if not isinstance(child, dict):
            child = {}
            node[seg] = child
        node = child
    last = path[-1]
    if last == "-":
        node["-"] = True  # an empty-array marker, resolved in _finish
    elif last.endswith("__null"):
        node[last[: -len("__null")]] = NULL
    else:
        node[last] = value


def nest(flat: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Flat form keys -> a nested tree (later keys win)."""
    tree: dict[str, Any] = {}
    for key, value in flat:
        _set_path(tree, split_key(str(key)), value)
    out: dict[str, Any] = _finish(tree)
    return out


def _finish(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"-"}:
            return []
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "-":
                continue
            out[str(k)] = _finish(v)
        return out
    if isinstance(node, list):
        return [_finish(v) for v in node]
    return node


def renest(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body: split any flat ``a:b`` keys it carries, recursively."""
    flat: list[tuple[str, Any]] = []

    def walk(prefix: list[str], node: Any) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk([*prefix, *split_key(str(k))], v)
        elif isinstance(node, list):
            if not node:
                flat.append((":".join([*prefix, "-"]), ""))
            for i, v in enumerate(node):
                walk([*prefix, str(i)], v)
        elif isinstance(node, dict):
            flat.append((":".join([*prefix, "-"]), ""))
        else:
            flat.append((":".join(prefix), NULL if node is None else node))

    walk([], dict(tree))
    tree2: dict[str, Any] = {}
    for key, value in flat:
        _set_path(tree2, key.split(":"), value)
    return _finish(tree2)  # type: ignore[no-any-return]


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """PHP ``array_replace_recursive``: ``over`` wins, dicts merge."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def path_params(segments: list[str]) -> list[tuple[str, str]]:
    """Extra ``/key/value`` segments after the action."""
    pairs = []
    for i in range(0, len(segments) - 1, 2):
        if segments[i]:
            pairs.append((segments[i], segments[i + 1]))
    return pairs


# ---------------------------------------------------------------------------- values


def php_bool(value: Any) -> bool:
    """Kaltura bool parsing: "false" (any case) is false, else a PHP ``(bool)`` cast."""
    if value is NULL or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value)
    if text.lower() == "false":
        return False
    return text not in ("", "0")


_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def int_list(text: str) -> set[int]:
    """``"0,1, 2"`` -> {0, 1, 2}; anything not an ASCII integer is skipped."""
    return {int(s) for s in (p.strip() for p in text.split(",")) if _ASCII_INT.fullmatch(s)}


def is_index(text: str) -> bool:
    """An ASCII decimal index (``str.isdigit`` also accepts "²")."""
    return bool(re.fullmatch(r"[0-9]+", text))


def php_int(value: Any, name: str) -> int:
    """``castSimpleType`` int: numeric strings; anything else is a validation error."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[+-]?[0-9]*\.[0-9]+", text):
        return int(float(text))
    raise api_error("PROPERTY_VALIDATION_NUMERIC_VALUE", name)


class Params:
    """One call's parameters with typed, Kaltura-style accessors."""

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self.tree = dict(tree)

    def raw(self, name: str) -> Any:
        value = self.tree.get(name)
        return None if value is NULL else value

    def has(self, name: str) -> bool:
        return self.raw(name) is not None

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.raw(name)
        if value is None or isinstance(value, (dict, list, FileStorage)):
            if required:
                raise api_error("MISSING_MANDATORY_PARAMETER", name)
            return default
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def integer(self, name: str, default: int | None = None, *, required: bool = False) -> Any:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise api_error("MISSING_MANDATORY_PARAMETER", name)
            return default
        if isinstance(value, (dict, list, FileStorage)):
            raise api_error("PROPERTY_VALIDATION_NUMERIC_VALUE", name)
        return php_int(value, name)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        return php_bool(value)

    def obj(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self.tree.get(name)
        if isinstance(value, dict):
            return value
        if required:
            raise api_error("MISSING_MANDATORY_PARAMETER", name)
        return None

    def file(self, name: str, *, required: bool = False) -> FileStorage | None:
        value = self.tree.get(name)
        if isinstance(value, FileStorage):
            return value
        if required:
            raise api_error("MISSING_MANDATORY_PARAMETER", name)
        return None


def field_str(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or value is NULL or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def field_int(obj: Mapping[str, Any], name: str) -> int | None:
    value = obj.get(name)
    if value is None or value is NULL or value == "":
        return None
    if isinstance(value, (dict, list)):
        raise api_error("PROPERTY_VALIDATION_NUMERIC_VALUE", name)
    return php_int(value, name)


# ---------------------------------------------------------------------------- output


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def to_json_value(value: Any) -> Any:
    """Null properties removed, ``objectType`` last (KalturaJsonSerializer)."""
    if isinstance(value, KalturaAPIException):
        return error_json(value)
    if isinstance(value, dict):
        out = {
            k: to_json_value(v)
            for k, v in value.items()
            if k != "objectType" and v is not None and v is not NULL
        }
        if "objectType" in value:
            out["objectType"] = value["objectType"]
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return value


def error_json(exc: KalturaAPIException) -> dict[str, Any]:
    return {
        "code": exc.code,
        "message": exc.message,
        "objectType": "KalturaAPIException",
        "args": dict(exc.args_map) if exc.args_map else [],
    }


def _xml_text(value: Any) -> str:
    return escape(_XML_BAD.sub("", _scalar_text(value)))


def _xml_value(value: Any, out: list[str]) -> None:
    if isinstance(value, KalturaAPIException):
        out.append("<error>")
        _xml_error_body(value, out)
        out.append("</error>")
    elif isinstance(value, dict):
        if "objectType" in value:
            out.append(f"<objectType>{_xml_text(value['objectType'])}</objectType>")
        for k, v in value.items():
            if k == "objectType" or v is None or v is NULL:
                continue
            out.append(f"<{k}>")
            _xml_value(v, out)
            out.append(f"</{k}>")
    elif isinstance(value, (list, tuple)):
        for item in value:
            out.append("<item>")
            _xml_value(item, out)
            out.append("</item>")
    elif value is None or value is NULL:
        return
    else:
        out.append(_xml_text(value))


def _xml_error_body(exc: KalturaAPIException, out: list[str]) -> None:
    out.append(f"<code>{_xml_text(exc.code)}</code>")
    out.append(f"<message>{_xml_text(exc.message)}</message>")
    out.append("<objectType>KalturaAPIException</objectType>")
    out.append("<args>")
    for name, val in exc.args_map.items():
        out.append(
            "<item><objectType>KalturaApiExceptionArg</objectType>"
            f"<name>{_xml_text(name)}</name><value>{_xml_text(val)}</value></item>"
        )
    out.append("</args>")


def serialize(result: Any, fmt: int, execution_time: float) -> tuple[bytes, str]:
    """(body, content type) for a result, an exception, or a multirequest list."""
    if fmt == FORMAT_JSON:
        body = json.dumps(to_json_value(result), ensure_ascii=False, separators=(",", ":"))
        return body.encode("utf-8"), "application/json"
    parts: list[str] = ['<?xml version="1.0" encoding="utf-8"?><xml><result>']
    _xml_value(result, parts)
    parts.append(f"</result><executionTime>{execution_time:.6f}</executionTime></xml>")
    return "".join(parts).encode("utf-8"), "text/xml"
