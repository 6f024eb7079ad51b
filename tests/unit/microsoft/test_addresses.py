"""Typed and pasted recipient addresses: syntax only, no DNS, bad items reported."""

from __future__ import annotations

import pytest

from app.microsoft.addresses import (
    Address,
    InvalidAddress,
    parse_list,
    split_items,
    validate_address,
)


@pytest.mark.parametrize(
    "text",
    [
        "ann@contoso.example",
        "O'Brien@contoso.example",
        "zoë@exämple.com",
        "用户@例子.广告",
        '"quoted local"@example.org',
        "first.last+tag@sub.example.co.uk",
    ],
)
def test_valid_addresses_including_international(text: str) -> None:
    assert validate_address(f"  {text} ") == validate_address(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("ann", "@"),
        ("ann@", "after the @"),
        ("a..b@example.com", "periods"),
        ("ann@localhost", "localhost|special|period"),
        ("ann@[127.0.0.1]", "bracketed"),
        ("x" * 2000 + "@example.com", "characters long"),
    ],
)
def test_invalid_addresses_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidAddress, match=why):
        validate_address(text)


def test_no_dns_lookup_for_a_domain_that_cannot_exist() -> None:
    # .example never resolves; a DNS check would reject it (or hang without a network).
    assert validate_address("someone@no-such-host.example") == "someone@no-such-host.example"


def test_split_respects_quotes_and_survives_unclosed_ones() -> None:
    text = '"Lee, Ann" <ann@x.example>; bob@y.example,\n<c@z.example>, , ;'
    assert split_items(text) == ['"Lee, Ann" <ann@x.example>', "bob@y.example", "<c@z.example>"]
    assert split_items('a@x.example; "Open, quote <o@x.example>; b@y.example, c@z.example') == [
        "a@x.example",
        '"Open',
        "quote <o@x.example>",
        "b@y.example",
        "c@z.example",
    ]


def test_pasted_list_keeps_good_items_and_reports_each_bad_one() -> None:
    text = (
        'Ann Lee <ann@x.example>; bob@y.example, "O\'Brien, Conor" <conor@z.example>; '
        "garbage; <broken@; Zoë Dubois <zoë@exämple.com>, mailto:kim@k.example, "
        "BOB@Y.EXAMPLE, two@@at.example, unmatched <a@b.example"
    )
    parsed = parse_list(text)
    assert parsed.good == [
        Address("ann@x.example", "Ann Lee"),
        Address("bob@y.example"),
        Address("conor@z.example", "O'Brien, Conor"),
        Address("zoë@exämple.com", "Zoë Dubois"),
        Address("kim@k.example"),
    ]
    assert [b.text for b in parsed.bad] == [
        "garbage",
        "<broken@",
        "two@@at.example",
        "unmatched <a@b.example",
    ]
    assert all(b.reason for b in parsed.bad)
    assert "@" in parsed.bad[0].reason
    assert [d.address for d in parsed.duplicates] == ["BOB@y.example"]  # domain normalized


def test_formatted_quotes_names_with_specials() -> None:
    assert (
        Address("c@z.example", 'O\'Brien, "C"').formatted() == '"O\'Brien, \\"C\\"" <c@z.example>'
    )
    assert Address("a@x.example", "Ann").formatted() == "Ann <a@x.example>"
    assert Address("a@x.example").formatted() == "a@x.example"


def test_a_huge_paste_is_handled_item_by_item() -> None:
    text = "; ".join(f"user{i}@example.com" for i in range(2000)) + "; " + "y" * 5000
    parsed = parse_list(text)
    assert len(parsed.good) == 2000
    assert len(parsed.bad) == 1 and "too long" in parsed.bad[0].reason
