"""The recipient search engine: debounce, cache and narrowing, cancel, merge/dedupe/rank."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from app.errors import NetworkError
from app.microsoft import search as s
from app.microsoft.graph import GraphClient
from app.microsoft.search import Lookup, RecipientSearch, SearchResults, Suggestion
from tests.helpers import wait_until
from tests.unit.microsoft.scripted import BASE, Reply, Tokens, graph_error, scripted_session


class ManualScheduler:
    """Timers that fire only when the test advances the fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[list[Any]] = []  # [due, fn, cancelled]

    def clock(self) -> float:
        return self.now

    def __call__(self, delay: float, fn: Callable[[], None]) -> Any:
        timer = [self.now + delay, fn, False]
        self.timers.append(timer)

        class Handle:
            def cancel(self_inner) -> None:
                timer[2] = True

        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for timer in list(self.timers):
            if not timer[2] and timer[0] <= self.now:
                timer[2] = True
                timer[1]()


class InlineExecutor:
    """Runs submitted work at once on the calling thread (deterministic tests)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_result(fn(*args))
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


PEOPLE = [
    Suggestion("maria.garcia@contoso.example", "Maria García", "people", 9.0, 0),
    Suggestion("marco.rossi@contoso.example", "Marco Rossi", "people", 5.0, 1),
]
USERS = [
    Suggestion("MARIA.GARCIA@contoso.example", "Maria García (dir)", "directory"),
    Suggestion("mariana.costa@contoso.example", "Mariana Costa", "directory"),
    Suggestion("anna.mars@contoso.example", "Anna Mars", "directory", surname="Mars"),
    Suggestion("marianne.lefevre@contoso.example", "Marianne Lefèvre", "directory"),
]


class FakeDirectory:
    """Answers from fixed lists, filtered like Graph would; records each lookup."""

    def __init__(self, complete: bool = True, fail: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.complete = complete
        self.fail = fail
        self.notice = ""
        self.block: threading.Event | None = None
        self.cancels: list[threading.Event | None] = []

    def lookup(self, prefix: str, cancel: threading.Event | None = None) -> Lookup:
        self.calls.append(prefix)
        self.cancels.append(cancel)
        if self.block is not None:
            self.block.wait(5)
        if self.fail:
            raise self.fail
        q = s.fold(prefix)
        people = [p for p in PEOPLE if p.matches(q)]
        users = [u for u in USERS if u.matches(q)]
        return Lookup(people, users, self.complete, 2)


def engine(
    directory: Any, **kw: Any
) -> tuple[RecipientSearch, ManualScheduler, list[SearchResults]]:
    sched = ManualScheduler()
    got: list[SearchResults] = []
    e = RecipientSearch(
        directory,
        got.append,
        clock=sched.clock,
        scheduler=sched,
        executor=InlineExecutor(),  # type: ignore[arg-type]
        **kw,
    )
    return e, sched, got


def test_typing_fast_sends_one_lookup_after_the_debounce() -> None:
    d = FakeDirectory()
    e, sched, got = engine(d)
    for text in ("M", "Ma", "Mar"):
        e.type(text)
        sched.advance(0.06)
    assert d.calls == []
    sched.advance(0.1)
    assert d.calls == ["Mar"]
    assert got[-1].query == "Mar" and got[-1].final and got[-1].origin == "graph"
    assert abs(got[-1].latency - 0.16) < 1e-9  # from the last keystroke


def test_complete_cached_prefix_is_narrowed_locally_without_a_request() -> None:
    d = FakeDirectory(complete=True)
    e, sched, got = engine(d)
    e.type("mar")
    sched.advance(0.2)
    e.type("Mari")
    e.type("MARIA")
    sched.advance(1)
    assert d.calls == ["mar"]
    last = got[-1]
    assert last.origin == "cache" and last.final
    assert [x.address for x in last.suggestions] == [
        "maria.garcia@contoso.example",
        "mariana.costa@contoso.example",
        "marianne.lefevre@contoso.example",
    ]


def test_incomplete_cache_gives_a_provisional_answer_then_asks_graph() -> None:
    d = FakeDirectory(complete=False)
    e, sched, got = engine(d)
    e.type("mar")
    sched.advance(0.2)
    e.type("mari")
    assert got[-1].origin == "cache" and not got[-1].final
    sched.advance(0.2)
    assert d.calls == ["mar", "mari"]
    assert got[-1].origin == "graph" and got[-1].final
    e.type("mari")  # exactly cached now
    assert got[-1].origin == "cache" and got[-1].final
    assert d.calls == ["mar", "mari"]


def test_superseded_lookup_is_cancelled_and_its_answer_dropped() -> None:
    d = FakeDirectory(complete=False)
    got: list[SearchResults] = []
    sched = ManualScheduler()
    workers = ThreadPoolExecutor(max_workers=2)  # real threads, as in the app
    e = RecipientSearch(d, got.append, clock=sched.clock, scheduler=sched, executor=workers)
    d.block = threading.Event()
    e.type("mar")
    sched.advance(0.2)  # the lookup for "mar" now hangs in a worker
    wait_until(lambda: d.calls, timeout=5)
    e.type("mari")
    first_cancel = d.cancels[0]
    assert first_cancel is not None and first_cancel.is_set()
    d.block.set()
    sched.advance(0.2)
    try:
        wait_until(lambda: any(r.query == "mari" and r.origin == "graph" for r in got), timeout=10)
        # Both lookups have run to their end (answer delivered or dropped) before close(),
        # which would drop anything still on its way whatever the cancelling did.
        workers.shutdown(wait=True)
    finally:
        e.close()
    assert d.calls == ["mar", "mari"]
    assert not any(r.query == "mar" for r in got)
    assert any(r.query == "mari" and r.origin == "graph" for r in got)


def test_merge_dedupes_case_insensitively_and_ranks_people_first() -> None:
    d = FakeDirectory()
    e, sched, got = engine(d)
    e.type("mar")
    sched.advance(0.2)
    addresses = [x.address for x in got[-1].suggestions]
    assert addresses == [
        "maria.garcia@contoso.example",  # people, relevance 9 (directory duplicate merged)
        "marco.rossi@contoso.example",  # people, relevance 5
        "mariana.costa@contoso.example",
        "marianne.lefevre@contoso.example",
        "anna.mars@contoso.example",  # surname match ranks after name prefix matches
    ]
    assert got[-1].suggestions[0].name == "Maria García"


def test_empty_and_whitespace_queries_send_nothing() -> None:
    d = FakeDirectory()
    e, sched, got = engine(d)
    e.type("   ")
    sched.advance(1)
    assert d.calls == [] and got[-1].suggestions == []


def test_typed_address_not_in_directory_is_offered_after_validation() -> None:
    d = FakeDirectory()
    e, sched, got = engine(d)
    e.type("kim@partner.example")
    sched.advance(0.2)
    assert got[-1].suggestions[-1] == Suggestion("kim@partner.example", source="typed")
    e.type("kim@@partner")
    sched.advance(0.2)
    assert all(x.source != "typed" for x in got[-1].suggestions)


def test_very_long_query_sends_a_bounded_prefix_and_narrows_locally() -> None:
    d = FakeDirectory()
    e, sched, got = engine(d)
    e.type("maria" + "x" * 5000)
    sched.advance(0.2)
    assert len(d.calls[0]) == s.MAX_SENT_CHARS
    assert got[-1].suggestions == []


def test_a_failed_lookup_reports_the_error_and_keeps_what_is_cached() -> None:
    d = FakeDirectory(complete=False)
    e, sched, got = engine(d)
    e.type("mar")
    sched.advance(0.2)
    d.fail = NetworkError("Microsoft 365 could not be reached.")
    e.type("mari")
    sched.advance(0.2)
    assert got[-1].error is d.fail
    assert [x.address for x in got[-1].suggestions][:1] == ["maria.garcia@contoso.example"]


def test_odata_quotes_are_doubled_and_people_search_is_quoted() -> None:
    assert s.odata_string("o'brien") == "'o''brien'"
    f = s.users_filter("O'Br")
    assert f == (
        "startswith(displayName,'O''Br') or startswith(surname,'O''Br') or "
        "startswith(mail,'O''Br') or startswith(userPrincipalName,'O''Br')"
    )
    assert s.people_search('say "hi"') == '"say \\"hi\\""'


def test_unicode_is_normalized_before_comparing() -> None:
    decomposed = "Zoe\u0308"
    assert s.normalize(decomposed) == "Zoë"
    assert Suggestion("z@x.example", "Zoë Dubois").matches(s.fold(decomposed))


def _graph_directory(
    handler: Callable[[requests.PreparedRequest], Reply],
) -> tuple[s.GraphDirectory, Any]:
    session, adapter = scripted_session(handler)
    graph = GraphClient(BASE, Tokens(), session=session, sleep=lambda _s: None)
    return s.GraphDirectory(graph), adapter


def test_graph_directory_sends_both_queries_and_parses_answers() -> None:
    def handler(r: requests.PreparedRequest) -> Reply:
        if "/me/people" in (r.url or ""):
            return Reply(
                200,
                {
                    "value": [
                        {
                            "displayName": "Conor O'Brien",
                            "scoredEmailAddresses": [
                                {"address": "conor.obrien@contoso.example", "relevanceScore": 3}
                            ],
                        },
                        {"displayName": "No Address", "scoredEmailAddresses": []},
                    ]
                },
            )
        return Reply(
            200,
            {
                "value": [
                    {"displayName": "Conor O'Brien", "mail": "Conor.OBrien@contoso.example"},
                    {"displayName": "No Mailbox", "mail": None, "userPrincipalName": "x@y"},
                ]
            },
        )

    d, adapter = _graph_directory(handler)
    result = d.lookup("o'brien")
    urls = sorted(requests.utils.unquote(r.url) for r in adapter.requests)
    assert len(urls) == 2
    assert '$search="o\'brien"' in urls[0].replace("+", " ")
    assert "startswith(displayName,'o''brien')" in urls[1].replace("+", " ")
    assert [p.address for p in result.people] == ["conor.obrien@contoso.example"]
    assert [u.address for u in result.users] == ["Conor.OBrien@contoso.example"]
    assert result.complete
    assert merge_count(result) == 1


def merge_count(lookup: Lookup) -> int:
    return len(s.merge(lookup.people, lookup.users))


def test_directory_denied_falls_back_to_people_and_says_so_once() -> None:
    def handler(r: requests.PreparedRequest) -> Reply:
        if "/users" in (r.url or ""):
            return Reply(403, graph_error("Authorization_RequestDenied", "Insufficient privileges"))
        return Reply(200, {"value": []})

    d, adapter = _graph_directory(handler)
    e, sched, got = engine(d)
    e.type("ann")
    sched.advance(0.2)
    assert got[-1].error is None and got[-1].notice == s.DIRECTORY_DENIED_NOTICE
    before = len(adapter.requests)
    e.type("bob")
    sched.advance(0.2)
    assert got[-1].notice == ""
    new = adapter.requests[before:]
    assert len(new) == 1 and "/me/people" in (new[0].url or "")
