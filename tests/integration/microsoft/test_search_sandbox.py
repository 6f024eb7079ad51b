"""Recipient search against the sandbox Graph server: real queries, bad input, throttling."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from app.microsoft.auth import SignIn
from app.microsoft.graph import GraphClient
from app.microsoft.search import GraphDirectory, RecipientSearch, SearchResults
from app.sandbox.httpd import FaultConfig
from tests.integration.microsoft.conftest import make_graph, make_signin


@pytest.fixture
def signed_in(ms_sandbox: Any) -> tuple[SignIn, GraphClient]:
    signin = make_signin(ms_sandbox, prefer_device_code=True)
    signin.sign_in()
    return signin, make_graph(ms_sandbox, signin)


def search(graph: GraphClient, text: str) -> SearchResults:
    directory = GraphDirectory(graph)
    engine = RecipientSearch(directory, lambda _r: None)
    try:
        return engine.search(text)
    finally:
        engine.close()
        directory.close()


def test_apostrophe_query_finds_obrien(signed_in: tuple[SignIn, GraphClient]) -> None:
    results = search(signed_in[1], "o'brien")
    names = [s.name for s in results.suggestions]
    assert "Conor O'Brien" in names
    assert all("o'brien" in s.name.casefold() or "obrien" in s.address for s in results.suggestions)


def test_unicode_query_finds_zoe(signed_in: tuple[SignIn, GraphClient]) -> None:
    results = search(signed_in[1], "Zoë")
    assert "Zoë Dubois" in [s.name for s in results.suggestions]
    decomposed = search(signed_in[1], "Zoe\u0308")
    assert "Zoë Dubois" in [s.name for s in decomposed.suggestions]


@pytest.mark.parametrize(
    "query",
    [
        "'",
        "''",
        "' or startswith(mail,'",
        '"',
        'say "hi"',
        "Lee, Ann",
        "a;b",
        ",;,",
        "\\",
        "%27%20or",
        "&$top=999",
        "Γιώργος",
        "王",
        "🙂",
        "x" * 5000,
        "ü" * 300,
    ],
)
def test_bad_input_never_breaks_the_search(
    signed_in: tuple[SignIn, GraphClient], query: str
) -> None:
    results = search(signed_in[1], query)
    assert results.error is None
    for s in results.suggestions:
        assert "@" in s.address


def test_greek_and_cyrillic_names_are_found(signed_in: tuple[SignIn, GraphClient]) -> None:
    assert "Γιώργος Παπαδόπουλος" in [s.name for s in search(signed_in[1], "Γιώρ").suggestions]
    assert any(s.name.startswith("Мария") for s in search(signed_in[1], "Мар").suggestions)


def test_forced_429s_are_backed_off_and_the_search_recovers_without_an_error(
    ms_sandbox: Any, signed_in: tuple[SignIn, GraphClient]
) -> None:
    graph = signed_in[1]
    waits: list[float] = []
    graph.on_backoff = lambda attempt, delay, status: waits.append(delay)
    ms_sandbox.graph_server.faults.configure(
        FaultConfig(throttle_next=3, retry_after_seconds=0.2, match=r"/(users|me/people)")
    )
    done = threading.Event()
    got: list[SearchResults] = []

    def on_results(r: SearchResults) -> None:
        got.append(r)
        if r.final:
            done.set()

    directory = GraphDirectory(graph)
    engine = RecipientSearch(directory, on_results)
    try:
        engine.type("Maria")
        assert done.wait(15)
    finally:
        engine.close()
        directory.close()
    assert got[-1].error is None
    assert any(s.name.startswith("Maria") for s in got[-1].suggestions)
    assert len(waits) == 3 and all(w == pytest.approx(0.2) for w in waits)
    log = ms_sandbox.graph_server.faults.request_log(r"/(users|me/people)")
    assert sum(1 for r in log if r.status == 429) == 3


def test_a_typing_burst_costs_two_graph_requests_and_narrowing_costs_none(
    ms_sandbox: Any, signed_in: tuple[SignIn, GraphClient]
) -> None:
    final = threading.Event()
    got: list[SearchResults] = []

    def on_results(r: SearchResults) -> None:
        got.append(r)
        if r.final and r.query == "Maria":
            final.set()

    ms_sandbox.graph_server.faults.clear_log()
    directory = GraphDirectory(signed_in[1])
    # A long debounce: the three keystrokes come microseconds apart, but a busy machine
    # may pause this thread for longer than a person's typing interval.
    engine = RecipientSearch(directory, on_results, debounce=1.0)
    try:
        for text in ("Mar", "Mari", "Maria"):
            engine.type(text)
        assert final.wait(10)
        sent = ms_sandbox.graph_server.faults.request_log(r"^/v1\.0/(users|me/people)$")
        assert len(sent) == 2
        assert got[-1].error is None and got[-1].suggestions
        # The same text again (e.g. after a backspace and retype) comes from the cache.
        engine.type("Maria")
        assert got[-1].origin == "cache" and got[-1].final
        assert len(ms_sandbox.graph_server.faults.request_log(r"^/v1\.0/(users|me/people)$")) == 2
    finally:
        engine.close()
        directory.close()
