"""The seeded directory: deterministic, international, fast prefix search, people lists."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sandbox.directory import FILTER_PROPERTIES, MAX_SIZE, Directory

SMALL = Directory(seed=1, size=1500)


def test_same_seed_same_directory_other_seed_differs() -> None:
    a, b, c = Directory(seed=7, size=300), Directory(seed=7, size=300), Directory(seed=8, size=300)
    assert [(u.id, u.displayName, u.mail) for u in a.users] == [
        (u.id, u.displayName, u.mail) for u in b.users
    ]
    assert [u.id for u in a.users] != [u.id for u in c.users]


def test_size_bounds() -> None:
    assert len(Directory(size=3000).users) == 3000
    with pytest.raises(ValueError, match="between"):
        Directory(size=MAX_SIZE + 1)
    with pytest.raises(ValueError, match="between"):
        Directory(size=3)


def test_names_other_tests_search_for_are_present() -> None:
    names = [u.displayName for u in SMALL.users]
    assert any("O'Brien" in n for n in names)
    assert any("Zoë" in n for n in names)
    assert sum(n.startswith("Mari") for n in names) >= 3
    assert any("-" in n for n in names)


def test_names_are_international() -> None:
    scripts = set()
    for u in SMALL.users:
        for ch in u.displayName:
            if ch.isalpha():
                scripts.add(unicodedata.name(ch).split()[0])
    assert {"LATIN", "GREEK", "CYRILLIC", "CJK"} <= scripts
    assert any(
        any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", u.displayName))
        for u in SMALL.users
    )


def test_addresses_are_unique_ascii_on_the_sandbox_domain() -> None:
    d = Directory(size=5000)
    mails = [u.mail for u in d.users]
    assert len(set(mails)) == len(mails)
    assert all(m.isascii() and m.endswith("@contoso.example") for m in mails)
    assert all(u.userPrincipalName == u.mail for u in d.users)
    assert len({u.id for u in d.users}) == len(d.users)


def test_senders_and_the_user_without_mailbox() -> None:
    senders = SMALL.senders
    assert len(senders) >= 3
    assert all(s.can_sign_in and s.has_mailbox for s in senders)
    nobox = SMALL.no_mailbox_user
    assert nobox.can_sign_in and not nobox.has_mailbox
    assert nobox in SMALL.accounts and nobox not in senders


def test_lookup_by_id_and_upn_case_insensitively() -> None:
    u = SMALL.users[42]
    assert SMALL.get(u.id) is u
    assert SMALL.get(u.mail.upper()) is u
    assert SMALL.get("nobody@contoso.example") is None


@settings(max_examples=60, deadline=None)
@given(prop=st.sampled_from(FILTER_PROPERTIES), prefix=st.text(max_size=3))
def test_startswith_matches_a_brute_force_scan(prop: str, prefix: str) -> None:
    expected = sorted(
        u.index
        for u in SMALL.users
        if str(getattr(u, prop)).casefold().startswith(prefix.casefold())
    )
    assert sorted(SMALL.startswith(prop, prefix)) == expected


def test_startswith_is_case_insensitive_and_handles_apostrophes() -> None:
    hits = {SMALL.users[i].surname for i in SMALL.startswith("surname", "o'b")}
    assert hits == {"O'Brien"}
    assert SMALL.startswith("displayName", "ZOË") == SMALL.startswith("displayName", "zoë")


def test_first_returns_directory_order() -> None:
    assert Directory.first({9, 3, 7, 1}, 2) == [1, 3]


def test_people_list_is_deterministic_ordered_by_relevance() -> None:
    me = SMALL.senders[0]
    people = SMALL.people_for(me)
    again = Directory(seed=1, size=1500).people_for(me)
    assert [p.id for p in people] == [p.id for p in again]
    scores = [p.relevance for p in people]
    assert scores == sorted(scores, reverse=True)
    assert me.id not in {p.id for p in people}
    assert any(p.subclass == "PersonalContact" for p in people)


def test_people_search_prefix_accent_insensitive_and_fuzzy() -> None:
    me = SMALL.senders[0]
    zoe = SMALL.search_people(me, "zoe")
    assert zoe and all("zoe" in " ".join(p.words) for p in zoe)
    assert any(p.displayName.startswith("Zoë") for p in zoe)
    # one typo still finds Maria García (fuzzy); an exact prefix ranks above fuzzy hits
    fuzzy = SMALL.search_people(me, "garcai")
    assert any(p.surname == "García" for p in fuzzy)
    both = SMALL.search_people(me, "maria garcia")
    assert both[0].displayName == "Maria García"
    assert SMALL.search_people(me, "qqqqzzzz") == []


def test_people_search_keeps_relevance_order_among_equal_matches() -> None:
    me = SMALL.senders[1]
    hits = SMALL.search_people(me, "mar")
    assert hits
    assert [p.relevance for p in hits] == sorted((p.relevance for p in hits), reverse=True)
