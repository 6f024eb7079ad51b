"""Recipient search: autocomplete from the user's relevant people and the directory (no Qt).

:class:`GraphDirectory` runs the two Graph queries for one prefix, in parallel:

- ``GET /me/people?$search="<p>"`` (People.Read): the people the user works with, ranked by
  Microsoft's relevance score;
- ``GET /users?$filter=startswith(displayName,'<p>') or startswith(surname,'<p>') or
  startswith(mail,'<p>') or startswith(userPrincipalName,'<p>')`` (User.ReadBasic.All),
  with single quotes doubled as OData requires.

When the organization forbids reading the directory (403 Authorization_RequestDenied), it
falls back to ``/me/people`` only and says so once (:attr:`GraphDirectory.notice`).

:class:`RecipientSearch` is what a UI binds to. Each keystroke goes to
:meth:`~RecipientSearch.type`; results arrive through the ``on_results`` callback: at once
on the calling thread when the cache answers, later on a worker thread when Graph does (a
UI posts them to its own thread). What makes it feel instant without
tripping Graph's throttling:

- **cache per prefix, narrowed locally**: results for "mar" are filtered for "mari" at once;
  when the cached answer was complete (fewer hits than asked for), no request is sent at all;
- **debounce** (150 ms by default; the scheduler and clock are injectable): one fetch per
  pause in typing, so at most two Graph requests per debounce window;
- **cancel superseded requests**: a newer keystroke cancels the fetch in flight (its retries
  stop and its answer is dropped);
- merge, dedupe by address (case-insensitive), rank: people by relevance first, then names
  and addresses that start with what was typed, then by name.

A typed address that is not in the directory is offered as a suggestion once its syntax is
valid (:mod:`app.microsoft.addresses`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from app.errors import AppError
from app.microsoft.addresses import InvalidAddress, validate_address
from app.microsoft.graph import DirectoryAccessDenied, GraphCancelled, GraphClient

log = logging.getLogger(__name__)

#: Longest prefix sent to Graph; longer queries are narrowed locally from its answer.
MAX_SENT_CHARS = 64
DIRECTORY_DENIED_NOTICE = (
    "Your organization does not let this app search the whole directory; suggestions come "
    "from the people you work with only."
)


def normalize(text: str) -> str:
    """What a query is compared as: NFC, trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def fold(text: str) -> str:
    return normalize(text).casefold()


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled, wrapped in single quotes."""
    return "'" + value.replace("'", "''") + "'"


def users_filter(prefix: str) -> str:
    lit = odata_string(prefix)
    return " or ".join(
        f"startswith({prop},{lit})"
        for prop in ("displayName", "surname", "mail", "userPrincipalName")
    )


def people_search(prefix: str) -> str:
    """The ``$search`` value for /me/people: the prefix in double quotes (inner ones escaped)."""
    return '"' + prefix.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Suggestion:
    """One person to offer. ``source``: "people", "directory" or "typed"."""

    address: str
    name: str = ""
    source: str = "directory"
    #: Microsoft's relevance score for people results (higher is better); 0 otherwise.
    relevance: float = 0.0
    #: Position in the people ranking (0 = most relevant); large for others.
    people_rank: int = 1_000_000
    given_name: str = ""
    surname: str = ""
    upn: str = ""

    @property
    def key(self) -> str:
        return self.address.casefold()

    def label(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "source": self.source}

    def matches(self, query_folded: str) -> bool:
        """Whether this suggestion fits a (longer) query: used to narrow cached results."""
        if not query_folded:
            return True
        fields = [self.name, self.given_name, self.surname, self.address, self.upn]
        for value in fields:
            f = fold(value)
            if f.startswith(query_folded):
                return True
        # Word starts in the name ("Lee" matches "Ann Lee"), like people search does.
        words = fold(self.name).replace(",", " ").split()
        return any(w.startswith(query_folded) for w in words) or any(
            " ".join(words[i:]).startswith(query_folded) for i in range(len(words))
        )


def rank(items: list[Suggestion], query: str) -> list[Suggestion]:
    """Merge-deduped, ranked: people by relevance, then prefix matches, then by name."""
    q = fold(query)

    def prefix_class(s: Suggestion) -> int:
        if q and fold(s.name).startswith(q):
            return 0
        if q and s.address.casefold().startswith(q):
            return 1
        return 2

    return sorted(
        items,
        key=lambda s: (
            0 if s.source == "people" else 1 if s.source == "directory" else 2,
            s.people_rank,
            -s.relevance,
            prefix_class(s),
            fold(s.name or s.address),
            s.key,
        ),
    )


def merge(people: list[Suggestion], users: list[Suggestion]) -> list[Suggestion]:
    """People first; a directory entry for the same address only fills in missing names."""
    out: dict[str, Suggestion] = {}
    for s in people:
        if s.key not in out:
            out[s.key] = s
    for u in users:
        existing = out.get(u.key)
        if existing is None:
            out[u.key] = u
        elif not existing.name and u.name:
            out[u.key] = replace(existing, name=u.name)
    return list(out.values())


@dataclass(frozen=True)
class Lookup:
    """What one Graph round trip found for a prefix."""

    people: list[Suggestion]
    users: list[Suggestion]
    #: True when neither list was cut at the page size: a longer prefix can be narrowed
    #: locally without asking Graph again.
    complete: bool
    requests: int = 0


class Directory(Protocol):
    """Where suggestions come from (GraphDirectory, or anything with the same method)."""

    notice: str

    def lookup(self, prefix: str, cancel: threading.Event | None = None) -> Lookup: ...


class GraphDirectory:
    """The two Graph queries for a prefix, run in parallel."""

    def __init__(self, graph: GraphClient, *, people_top: int = 10, users_top: int = 25) -> None:
        self.graph = graph
        self.people_top = people_top
        self.users_top = users_top
        #: False after Graph refused /users (403 Authorization_RequestDenied).
        self.directory_allowed = True
        #: Set once, when the directory fallback starts; a UI shows it once.
        self.notice = ""
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="graph-search")

    def people(self, prefix: str, cancel: threading.Event | None = None) -> list[Suggestion]:
        data = self.graph.get_json(
            "/me/people",
            params={
                "$search": people_search(prefix),
                "$top": str(self.people_top),
                "$select": "displayName,givenName,surname,scoredEmailAddresses,userPrincipalName",
            },
            cancel=cancel,
            timeout=15.0,
        )
        out = []
        for i, person in enumerate(data.get("value") or []):
            if not isinstance(person, dict):
                continue
            for scored in person.get("scoredEmailAddresses") or []:
                addr = (scored or {}).get("address") if isinstance(scored, dict) else None
                if not addr:
                    continue
                out.append(
                    Suggestion(
                        address=str(addr),
                        name=str(person.get("displayName") or ""),
                        source="people",
                        relevance=float(scored.get("relevanceScore") or 0.0),
                        people_rank=i,
                        given_name=str(person.get("givenName") or ""),
                        surname=str(person.get("surname") or ""),
                        upn=str(person.get("userPrincipalName") or ""),
                    )
                )
                break  # the first (best scored) address of each person
        return out

    def users(self, prefix: str, cancel: threading.Event | None = None) -> list[Suggestion]:
        data = self.graph.get_json(
            "/users",
            params={
                "$filter": users_filter(prefix),
                "$top": str(self.users_top),
                "$select": "displayName,givenName,surname,mail,userPrincipalName",
            },
            cancel=cancel,
            timeout=15.0,
        )
        out = []
        for user in data.get("value") or []:
            if not isinstance(user, dict) or not user.get("mail"):
                continue  # no mailbox address: nobody to send to
            out.append(
                Suggestion(
                    address=str(user["mail"]),
                    name=str(user.get("displayName") or ""),
                    source="directory",
                    given_name=str(user.get("givenName") or ""),
                    surname=str(user.get("surname") or ""),
                    upn=str(user.get("userPrincipalName") or ""),
                )
            )
        return out

    def lookup(self, prefix: str, cancel: threading.Event | None = None) -> Lookup:
        requests_sent = 1
        users_future: Future[list[Suggestion]] | None = None
        if self.directory_allowed:
            users_future = self._pool.submit(self.users, prefix, cancel)
            requests_sent += 1
        people = self.people(prefix, cancel)
        users: list[Suggestion] = []
        users_complete = True
        if users_future is not None:
            try:
                users = users_future.result()
                users_complete = len(users) < self.users_top
            except DirectoryAccessDenied:
                log.info("directory search denied; using /me/people only")
                self.directory_allowed = False
                self.notice = DIRECTORY_DENIED_NOTICE
        complete = users_complete and len(people) < self.people_top
        return Lookup(people, users, complete, requests_sent)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class SearchResults:
    """What the UI shows for ``query``."""

    query: str
    suggestions: list[Suggestion]
    #: False for a provisional answer narrowed from a cached, incomplete one.
    final: bool = True
    #: "graph", "cache" or "local".
    origin: str = "graph"
    #: A one-time explanation (e.g. the directory fallback); "" otherwise.
    notice: str = ""
    #: A user-facing error when Graph could not answer (cached results are still shown).
    error: AppError | None = None
    #: Seconds from the keystroke to this answer (clock of the engine).
    latency: float = 0.0


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Cancellable]


def thread_scheduler(delay: float, fn: Callable[[], None]) -> Cancellable:
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.name = "search-debounce"
    timer.start()
    return timer


@dataclass
class _CacheEntry:
    people: list[Suggestion]
    users: list[Suggestion]
    complete: bool
    stored_at: float


@dataclass
class _Pending:
    generation: int
    query: str
    typed_at: float
    cancel: threading.Event = field(default_factory=threading.Event)


class RecipientSearch:
    """Debounced, cached, cancellable recipient autocomplete (see the module docstring)."""

    def __init__(
        self,
        directory: Directory,
        on_results: Callable[[SearchResults], None],
        *,
        debounce: float = 0.15,
        clock: Callable[[], float] = time.monotonic,
        scheduler: Scheduler = thread_scheduler,
        max_results: int = 10,
        cache_size: int = 256,
        cache_ttl: float = 300.0,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.directory = directory
        self.on_results = on_results
        self.debounce = debounce
        self.clock = clock
        self.scheduler = scheduler
        self.max_results = max_results
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        self._executor = executor or ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="recipient-search"
        )
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[str, _CacheEntry] = collections.OrderedDict()
        self._generation = 0
        self._timer: Cancellable | None = None
        self._inflight: _Pending | None = None
        self._notice_shown = False
        #: Fetches started (each is at most two Graph requests); for tests and benchmarks.
        self.fetches = 0
        self.graph_requests = 0

    # ------------------------------------------------------------------ cache

    def _cached(self, q: str) -> tuple[str, _CacheEntry] | None:
        """The entry for ``q`` itself, else for its longest cached prefix."""
        now = self.clock()
        best: tuple[str, _CacheEntry] | None = None
        for key in list(self._cache):
            entry = self._cache[key]
            if now - entry.stored_at > self.cache_ttl:
                del self._cache[key]
                continue
            if q.startswith(key) and (best is None or len(key) > len(best[0])):
                best = (key, entry)
        if best is not None:
            self._cache.move_to_end(best[0])
        return best

    def _store(self, q: str, lookup: Lookup) -> None:
        self._cache[q] = _CacheEntry(lookup.people, lookup.users, lookup.complete, self.clock())
        self._cache.move_to_end(q)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # ------------------------------------------------------------------ results

    def _build(
        self, query: str, people: list[Suggestion], users: list[Suggestion], narrow: bool
    ) -> list[Suggestion]:
        q = fold(query)
        if narrow:
            people = [s for s in people if s.matches(q)]
            users = [s for s in users if s.matches(q)]
        items = rank(merge(people, users), query)[: self.max_results]
        typed = self._typed(query, items)
        if typed is not None:
            items.append(typed)
        return items

    @staticmethod
    def _typed(query: str, items: list[Suggestion]) -> Suggestion | None:
        text = normalize(query)
        if "@" not in text:
            return None
        try:
            address = validate_address(text)
        except InvalidAddress:
            return None
        if any(s.key == address.casefold() for s in items):
            return None
        return Suggestion(address=address, source="typed")

    def _notice(self) -> str:
        notice = getattr(self.directory, "notice", "")
        if notice and not self._notice_shown:
            self._notice_shown = True
            return str(notice)
        return ""

    def _deliver(self, results: SearchResults) -> None:
        try:
            self.on_results(results)
        except Exception:
            log.exception("search results callback failed")

    # ------------------------------------------------------------------ typing

    def type(self, text: str) -> None:
        """The search box now holds ``text``. Returns at once; results come by callback."""
        query = normalize(text)
        q = query.casefold()
        now = self.clock()
        local: SearchResults | None = None
        with self._lock:
            self._generation += 1
            generation = self._generation
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._inflight is not None:
                self._inflight.cancel.set()  # superseded: stop retrying, drop the answer
                self._inflight = None
            if not q:
                local = SearchResults(query, [], final=True, origin="local")
                need_fetch = False
            else:
                hit = self._cached(q)
                need_fetch = True
                if hit is not None:
                    key, entry = hit
                    exact = key == q
                    final = exact or entry.complete
                    need_fetch = not final
                    local = SearchResults(
                        query,
                        self._build(query, entry.people, entry.users, narrow=not exact),
                        final=final,
                        origin="cache",
                        latency=self.clock() - now,
                    )
            if need_fetch:
                pending = _Pending(generation, query, now)
                self._timer = self.scheduler(self.debounce, lambda: self._fire(pending))
        if local is not None:
            self._deliver(local)

    def _fire(self, pending: _Pending) -> None:
        with self._lock:
            if pending.generation != self._generation:
                return
            self._timer = None
            self._inflight = pending
            self.fetches += 1
        self._executor.submit(self._fetch, pending)

    def _lookup(self, query: str, cancel: threading.Event | None) -> Lookup:
        sent = query[:MAX_SENT_CHARS]
        lookup = self.directory.lookup(sent, cancel)
        with self._lock:
            self.graph_requests += lookup.requests
        return lookup

    def _fetch(self, pending: _Pending) -> None:
        query = pending.query
        try:
            lookup = self._lookup(query, pending.cancel)
        except GraphCancelled:
            return
        except AppError as exc:
            if pending.cancel.is_set():
                return
            log.info("recipient search failed: %s", exc.message)
            with self._lock:
                if pending.generation != self._generation:
                    return
                self._inflight = None
                hit = self._cached(query.casefold())
            items: list[Suggestion] = []
            if hit is not None:
                items = self._build(query, hit[1].people, hit[1].users, narrow=True)
            self._deliver(
                SearchResults(
                    query,
                    items,
                    final=True,
                    origin="cache" if hit else "local",
                    error=exc,
                    latency=self.clock() - pending.typed_at,
                )
            )
            return
        narrow = len(query) > MAX_SENT_CHARS
        with self._lock:
            self._store(query[:MAX_SENT_CHARS].casefold(), lookup)
            if pending.generation != self._generation or pending.cancel.is_set():
                return  # a newer keystroke owns the box; the answer still fed the cache
            self._inflight = None
            notice = self._notice()
        self._deliver(
            SearchResults(
                query,
                self._build(query, lookup.people, lookup.users, narrow=narrow),
                final=True,
                origin="graph",
                notice=notice,
                latency=self.clock() - pending.typed_at,
            )
        )

    # ------------------------------------------------------------------ one-shot

    def search(self, text: str) -> SearchResults:
        """Search now, without debounce (the command line). Raises AppError on failure."""
        query = normalize(text)
        started = self.clock()
        if not query:
            return SearchResults(query, [], origin="local")
        lookup = self._lookup(query, None)
        with self._lock:
            self._store(query[:MAX_SENT_CHARS].casefold(), lookup)
            notice = self._notice()
        return SearchResults(
            query,
            self._build(query, lookup.people, lookup.users, narrow=len(query) > MAX_SENT_CHARS),
            origin="graph",
            notice=notice,
            latency=self.clock() - started,
        )

    def cancel(self) -> None:
        """Stop any pending or running search (the box was closed or cleared)."""
        with self._lock:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._inflight is not None:
                self._inflight.cancel.set()
                self._inflight = None

    def close(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
