"""OData query options for the Graph sandbox's ``/users``: ``$filter``, ``$search``, paging.

``$filter`` is parsed by a small recursive-descent parser (``or``, ``and``, ``not``,
parentheses, ``startswith(prop,'x')``, ``endswith(prop,'x')``, ``prop eq 'x'``,
``prop ne 'x'``, OData string literals with ``''`` for a quote). Which of those need
"advanced query" support (``ConsistencyLevel: eventual`` plus ``$count=true``) follows
Graph's directory rules (docs/protocols.md, "Graph: people and directory search"):
``startswith`` and ``eq`` on displayName,
givenName, surname, mail and userPrincipalName work by default; ``endswith``, ``ne`` and
``not`` do not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.sandbox.directory import FILTER_PROPERTIES, Directory

_PROPS = {p.casefold(): p for p in (*FILTER_PROPERTIES, "id")}


class QueryError(Exception):
    """A query Graph refuses: ``code`` is the Graph error code (HTTP 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Node:
    op: str  # or | and | not | startswith | endswith | eq | ne
    children: tuple[Node, ...] = ()
    prop: str = ""
    value: str = ""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)|(?P<bad>\S))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup == "bad":
            bad = text[m.start("bad")] if m else text[pos]
            raise QueryError("BadRequest", f"Invalid filter clause: syntax error at '{bad}'.")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if "'" in text and text.count("'") % 2:
            raise QueryError("BadRequest", "Invalid filter clause: unterminated string literal.")
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v.casefold() != value):
            want = value or kind
            got = v or "end of input"
            raise QueryError("BadRequest", f"Invalid filter clause: expected {want} at '{got}'.")
        self.i += 1
        return v

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek()[0] != "end":
            raise QueryError("BadRequest", f"Invalid filter clause: unexpected '{self.peek()[1]}'.")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek() == ("word", self.peek()[1]) and self.peek()[1].casefold() == "or":
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.peek()[0] == "word" and self.peek()[1].casefold() == "and":
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def unary(self) -> Node:
        kind, value = self.peek()
        if kind == "word" and value.casefold() == "not":
            self.i += 1
            return Node("not", (self.unary(),))
        if kind == "punct" and value == "(":
            self.i += 1
            node = self.or_expr()
            self.take("punct", ")")
            return node
        if kind != "word":
            raise QueryError("BadRequest", f"Invalid filter clause: unexpected '{value or 'end'}'.")
        self.i += 1
        name = value.casefold()
        if name in ("startswith", "endswith"):
            self.take("punct", "(")
            prop = self.take("word")
            self.take("punct", ",")
            literal = self.take("str")
            self.take("punct", ")")
            return Node(name, prop=_prop(prop), value=literal)
        op_kind, op = self.peek()
        if op_kind == "word" and op.casefold() in ("eq", "ne"):
            self.i += 1
            literal = self.take("str")
            return Node(op.casefold(), prop=_prop(value), value=literal)
        if op_kind == "punct" and op == "(":
            raise QueryError("BadRequest", f"Invalid filter clause: unknown function '{value}'.")
        raise QueryError(
            "BadRequest", f"Invalid filter clause: expected an operator after '{value}'."
        )


def _prop(name: str) -> str:
    prop = _PROPS.get(name.casefold())
    if prop is None:
        raise QueryError(
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for property '{name}' of "
            "resource 'User'.",
        )
    return prop


def parse_filter(text: str) -> Node:
    if not text.strip():
        raise QueryError("BadRequest", "Invalid filter clause: the filter is empty.")
    return _Parser(text).parse()


def advanced_operators(node: Node) -> list[str]:
    """Operators in the filter that need ConsistencyLevel: eventual and $count=true."""
    found: list[str] = []
    if node.op in ("endswith", "ne", "not"):
        found.append({"endswith": "endsWith"}.get(node.op, node.op))
    if node.prop == "id" and node.op == "startswith":
        found.append("startsWith on id")
    for child in node.children:
        found += advanced_operators(child)
    return found


def evaluate(tree: Node, directory: Directory) -> set[int]:
    """The set of user indices matching ``tree``."""
    if tree.op == "or":
        out: set[int] = set()
        for child in tree.children:
            out |= evaluate(child, directory)
        return out
    if tree.op == "and":
        sets = sorted((evaluate(c, directory) for c in tree.children), key=len)
        result = sets[0]
        for s in sets[1:]:
            result = result & s
        return result
    if tree.op == "not":
        return set(range(len(directory.users))) - evaluate(tree.children[0], directory)
    if tree.prop == "id":
        user = directory.get(tree.value)
        hit = {user.index} if user is not None and user.id == tree.value.casefold() else set()
        if tree.op == "ne":
            return set(range(len(directory.users))) - hit
        return hit
    if tree.op == "startswith":
        return set(directory.startswith(tree.prop, tree.value))
    if tree.op == "eq":
        return set(directory.equals(tree.prop, tree.value))
    if tree.op == "ne":
        return set(range(len(directory.users))) - set(directory.equals(tree.prop, tree.value))
    # endswith: advanced queries are served from an index in Entra; a scan is fine here.
    suffix = tree.value.casefold()
    return {
        u.index for u in directory.users if str(getattr(u, tree.prop)).casefold().endswith(suffix)
    }


_SEARCH_CLAUSE = re.compile(r'"(?P<body>[^"]*)"|(?P<op>\bAND\b|\bOR\b)')
_WORD_SPLIT = re.compile(r"[\s\-._@']+")


def search_users(text: str, directory: Directory) -> set[int]:
    """``$search="displayName:mar" OR "mail:mar"``: word-prefix match per property."""
    clauses: list[tuple[str, str]] = []
    ops: list[str] = []
    pos = 0
    stripped = text.strip()
    for m in _SEARCH_CLAUSE.finditer(stripped):
        if stripped[pos : m.start()].strip():
            raise QueryError("BadRequest", "Syntax error: the $search value is not valid.")
        pos = m.end()
        if m.group("op"):
            ops.append(m.group("op"))
            continue
        body = m.group("body")
        if ":" not in body:
            raise QueryError(
                "BadRequest",
                "Syntax error: character ':' is required in a $search clause such as "
                '"displayName:value".',
            )
        prop, term = body.split(":", 1)
        clauses.append((_prop(prop), term.casefold()))
    if stripped[pos:].strip() or not clauses:
        raise QueryError("BadRequest", "Syntax error: the $search value is not valid.")
    result: set[int] | None = None
    for i, (prop, term) in enumerate(clauses):
        words = [w for w in _WORD_SPLIT.split(term) if w]
        hits = {
            u.index
            for u in directory.users
            if all(
                any(w2.startswith(w) for w2 in _WORD_SPLIT.split(str(getattr(u, prop)).casefold()))
                for w in words
            )
        }
        if result is None:
            result = hits
        elif ops[i - 1 : i] == ["AND"]:
            result &= hits
        else:
            result |= hits
    return result or set()


class SkipTokens:
    """Opaque, tamper-evident ``$skiptoken`` values bound to one query."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def make(self, query_key: str, offset: int) -> str:
        payload = json.dumps({"o": offset, "q": _digest(query_key)}, separators=(",", ":"))
        mac = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()[:12]
        raw = base64.urlsafe_b64encode(mac + payload.encode()).decode().rstrip("=")
        return "RFNwdAIAAQAAA" + raw

    def read(self, query_key: str, token: str) -> int:
        bad = QueryError("Request_BadRequest", "Invalid $skiptoken value.")
        if not token.startswith("RFNwdAIAAQAAA"):
            raise bad
        try:
            raw = base64.urlsafe_b64decode(token[13:] + "=" * (-len(token[13:]) % 4))
            mac, payload = raw[:12], raw[12:]
            expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
            data: Any = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad from exc
        if not hmac.compare_digest(mac, expected) or not isinstance(data, dict):
            raise bad
        if data.get("q") != _digest(query_key) or not isinstance(data.get("o"), int):
            raise bad
        return int(data["o"])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def parse_select(raw: str, allowed: Iterable[str], type_name: str) -> list[str]:
    """``$select=a,b`` against the known properties (case-insensitive), in order asked."""
    known = {p.casefold(): p for p in allowed}
    out: list[str] = []
    for item in raw.split(","):
        name = item.strip()
        if not name:
            continue
        prop = known.get(name.casefold())
        if prop is None:
            raise QueryError(
                "BadRequest",
                f"Parsing OData Select and Expand failed: Could not find a property named "
                f"'{name}' on type '{type_name}'.",
            )
        if prop not in out:
            out.append(prop)
    return out
