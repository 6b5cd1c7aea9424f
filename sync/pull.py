"""One sync pass over one survey: read responses by id windows without losing any.

RC2 has no "changed since" filter and ids exist before a response is complete, so per
(site, survey) we keep a cursor (``Cursor``): the largest id seen (``high_water``) and the
ids seen incomplete (``pending``). A pass:

1. re-reads the pending ids, one export per span of at most a few windows that holds
   them (``limesurvey.read_spans``; the rows not asked for are dropped); completed ones
   are stored, vanished ones dropped, ids older than ``pending_max_age_days`` are dropped
   and counted;
2. exports ``high_water+1 ..`` in windows of ``site.window`` ids (``all``, ``code``,
   ``short``) until a window comes back empty, fetching the next windows in one
   background thread and mapping them in another while the current ones are stored
   (at most ``WINDOWS_PER_COMMIT + 2`` windows ahead: memory does not grow with the
   survey);
3. decides whether the empty window was the end: ``get_summary``'s count of completed
   responses is compared with what the records hold; only when they differ is one probe
   made (ids only, above ``high_water``) to jump a gap of deleted ids. An idle pass is
   therefore two RC2 calls, and a gap never makes a pass loop.
   If LimeSurvey still counts more completed responses than the records account for and
   none is above the high water, some were given ids below it after it was passed
   (LimeSurvey on PostgreSQL: a response added with an explicit id does not move the
   table's sequence), or a pending id expired before its response was completed. The
   completed ids below the high water are then listed (ids-only exports) and the missing
   ones read: at most every ``PROBE_INTERVAL`` per survey, since a response completed
   during the pass looks the same until the next pass re-reads the pending ids. Ids
   that completion webhooks named are looked up first, at no such wait.

Each window (up to ``WINDOWS_PER_COMMIT`` consecutive ones while catching up) is written in
one transaction together with the cursor (``sync.store``), so a crash between transactions
loses nothing and a replayed window changes nothing. The submit dates read are checked
against the moments completion webhooks were heard and against the clock
(``sync.siteclock``): a site timezone that is not LimeSurvey's is warned about.
A full resync (``full=True``) re-reads from id 1, updates changed rows and marks ids that
vanished as deleted; ``id_range`` re-reads a range the same way without moving the cursor.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sync import siteclock, store
from sync.errors import InputError, PingyiError
from sync.limesurvey import parse_export, read_spans
from sync.map import Mapped, Rejected, map_row

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.engine import Engine

    from sync.bindings import Binding
    from sync.catalogue import Catalogue
    from sync.config import SiteConfig
    from sync.limesurvey import ExportRow, LimeSurveyClient

log = logging.getLogger(__name__)
T = TypeVar("T")


# -- the cursor: plain data, pure transitions ------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a survey's sync stands. Promoted to the database only with the window that
    produced it (same transaction), never ahead of the work."""

    high_water: int = 0
    pending: frozenset[int] = frozenset()

    def seen(self, complete: Iterable[int], incomplete: Iterable[int]) -> Cursor:
        """A window was read: the high water is the largest id seen; incomplete ids wait
        in pending, complete ones leave it."""
        done = set(complete)
        waiting = set(incomplete)
        top = max(done | waiting, default=0)
        pending = (self.pending - done) | waiting
        return Cursor(max(self.high_water, top), frozenset(pending))

    def dropped(self, ids: Iterable[int]) -> Cursor:
        """Pending ids that completed, vanished (deleted) or expired stop being re-read."""
        return replace(self, pending=self.pending - set(ids))

    def next_window(self, size: int) -> tuple[int, int]:
        return (self.high_water + 1, self.high_water + size)


def windows(start: int, size: int, stop_after: int | None = None) -> Iterator[tuple[int, int]]:
    """Consecutive inclusive id windows from ``start``; endless unless ``stop_after``."""
    lo = start
    while stop_after is None or lo <= stop_after:
        hi = lo + size - 1
        if stop_after is not None:
            hi = min(hi, stop_after)
        yield (lo, hi)
        lo = hi + 1


def end_decision(summary_completed: int, known_completed: int) -> bool:
    """After an empty window: is there nothing more to read? (True = stop.)

    Equal counts mean every completed response LimeSurvey has is in the records (stored
    or quarantined): the pass ends without a probe. Any difference (more in LimeSurvey:
    rows past a gap of deleted ids; fewer: rows deleted since we stored them) is worth
    one ids-only probe above the high water."""
    return summary_completed == known_completed


#: the least time between two listings of a survey's completed ids below the high water
#: (step 3): each costs an ids-only export per ``limesurvey.PROBE_SPAN`` ids
PROBE_INTERVAL = timedelta(minutes=15)


def probe_due(probed_at: datetime | None, now: datetime, force: bool) -> bool:
    """Is it time to list the completed ids below the high water again?"""
    return force or probed_at is None or now - probed_at >= PROBE_INTERVAL


# -- the pass ---------------------------------------------------------------------------


@dataclass
class PassReport(store.WindowResult):
    """A pass: its windows' results added up (``add``), and the pass's own figures."""

    fetched: int = 0
    pending: int = 0
    expired: int = 0
    high_water: int = 0
    rc2_calls: int = 0
    duration_s: float = 0.0
    windows: int = 0
    stopped: bool = False
    dry_run: bool = False
    full: bool = False
    #: completed responses LimeSurvey counted beyond the records at the end, negative when
    #: the records hold more (None: the pass did not compare, e.g. an id range)
    shortfall: int | None = None
    #: the completed ids below the high water were listed; how many of them were missing
    probed: bool = False
    found_below: int = 0
    #: how far the submit dates read run ahead (+) or behind (-) the moments their
    #: webhooks were heard, or ahead of the clock (``sync.siteclock``); None: no reading
    clock_offset_s: float | None = None
    #: the site's configured timezone the dates were read in
    zone: str = ""
    #: the cursor holds a clock reading made under another timezone: the site's changed
    #: since (the remedy), so that reading says nothing any more
    stale_clock: bool = False

    @property
    def clock_wrong(self) -> bool:
        """The offset is beyond ``siteclock.TOLERANCE``: the site's timezone is suspect."""
        return siteclock.off(self.clock_offset_s)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "touched"}
        out["touched"] = sorted([list(t) for t in self.touched])
        out["clock_wrong"] = self.clock_wrong
        return out


@dataclass
class _Read:
    """One export, mapped: what ``store.Window`` needs, without the raw rows (which are
    dropped as soon as they are mapped)."""

    seen: list[int]
    complete: list[int]
    incomplete: list[int]
    mapped: list[Mapped]
    rejected: list[tuple[int, Rejected]]


_DONE = object()

#: consecutive non-empty windows written in one transaction, at most
WINDOWS_PER_COMMIT = 4

#: seconds the mapping thread lets the fetch thread send the next export before it maps
#: a reply it waited for (``_Prefetch._processing``)
FETCH_HEAD_START = 0.002


class _Prefetch:
    """Fetches windows in a background thread and decodes and maps them in another,
    ahead of the consumer (the writer).

    ``fetch`` only brings a window's export as LimeSurvey sent it, falsy when the window
    is empty (``export_window_result``), and its thread asks for the next export as
    soon as a reply is in: LimeSurvey gets one export at a time, back to back. The other
    thread decodes, parses and maps each reply (``process``) beside the next export,
    and beside the writer's waits for its database. Against a LimeSurvey as slow as
    6.2.1, every wait between two exports is paid once per window: asking only after
    this window's parsing and mapping cost a quarter of a pass, after its base64 and
    JSON decoding a tenth, and handing each export from one thread to the other about
    7 ms a window (100,000 responses paced, SQLite: 10.50 -> 10.19 s for the decoding);
    and a mapping thread that took a reply at once held the GIL while the fetch thread
    built its next request (``FETCH_HEAD_START``: SQLite paced 9.51 -> 8.80 s). Mapping
    in the writer's own thread instead lost the overlap with PostgreSQL's work (bare
    double: 6.45 -> 7.38 s). No export is asked for past the empty window that ends the
    reading.

    At most ``SLOTS`` windows are between LimeSurvey and the writer (being fetched,
    waiting to be decoded, being decoded, decoded and waiting): a window's slot is
    taken before its export is asked for and given back when the writer takes it. So
    while one transaction of ``WINDOWS_PER_COMMIT`` windows is written the next one's
    are fetched (with room for one transaction the writer waited for two exports per
    transaction: 20,000 responses paced, SQLite 4.6/3.7 s -> 3.4/3.2 s, PostgreSQL
    5.9/5.6 -> 5.5/4.6 s); when the writer is behind, fetching waits for it, and memory
    does not grow with the survey."""

    SLOTS = WINDOWS_PER_COMMIT + 2

    def __init__(
        self,
        fetch: Callable[[int, int], Any],
        process: Callable[[Any], _Read],
        spans: Iterator[tuple[int, int]],
        *,
        stop_when_empty_after: int | None,
    ) -> None:
        """``stop_when_empty_after``: an empty window ending at or above this id ends the
        reading (None: read every span, empty or not)."""
        self._fetch = fetch
        self._process = process
        self._spans = spans
        self._stop_when_empty_after = stop_when_empty_after
        self._slots = threading.Semaphore(self.SLOTS)
        # bounded by the slots, not by the queues
        self._replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reads: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._fetching, name="pingyi-fetch", daemon=True),
            threading.Thread(target=self._processing, name="pingyi-map", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _slot(self) -> bool:
        while not self._halt.is_set():
            if self._slots.acquire(timeout=0.1):
                return True
        return False

    def _fetching(self) -> None:
        try:
            limit = self._stop_when_empty_after
            for lo, hi in self._spans:
                if not self._slot():
                    return
                reply = self._fetch(lo, hi)
                self._replies.put((lo, hi, reply))
                if not reply and limit is not None and hi >= limit:
                    break
        except BaseException as exc:  # handed on to the consumer, raised there
            self._replies.put(exc)
            return
        self._replies.put(_DONE)

    def _processing(self) -> None:
        while True:
            try:
                item = self._replies.get_nowait()
            except queue.Empty:
                item = self._replies.get()
                # The reply has just come in, and the fetch thread is building the next
                # export's request: mapping now would hold the GIL and hold that request
                # back (up to the interpreter's 5 ms switch interval at a time). A head
                # start lets the request go out first. When replies are waiting (the
                # writer is behind) there is nothing to wait for.
                time.sleep(FETCH_HEAD_START)
            if item is _DONE or isinstance(item, BaseException):
                self._reads.put(item)
                return
            lo, hi, reply = item
            del item
            try:
                read = self._process(reply)
            except BaseException as exc:
                self._reads.put(exc)
                return
            del reply
            self._reads.put((lo, hi, read))

    def __iter__(self) -> Iterator[tuple[int, int, _Read]]:
        while True:
            item = self._reads.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            self._slots.release()
            yield item

    def close(self) -> None:
        """Stop fetching and wait for the threads (an export under way is finished)."""
        self._halt.set()
        # a processing thread waiting for a reply that will never come
        self._replies.put(_DONE)
        for thread in self._threads:
            thread.join(timeout=600)


def _batched(
    reads: Iterable[tuple[int, int, _Read]], stop: threading.Event | None
) -> Iterator[tuple[int, int, _Read, int]]:
    """Consecutive windows merged, up to ``WINDOWS_PER_COMMIT``, into one write: ``(lo, hi,
    read, windows)``. A catching-up sync commits a few times less often, and every
    commit rewrites the scoring index's hot pages (one per unit and dimension) whatever
    the number of rows: 100,000 responses on SQLite took about 15% less time (20.8 s ->
    17.5 s). An empty window (the end is near) or a stop request writes what was gathered
    at once, so a daemon's small pass and a SIGTERM wait for no further window."""
    gathered: list[tuple[int, int, _Read]] = []

    def merged() -> tuple[int, int, _Read, int]:
        read = _Read([], [], [], [], [])
        for _lo, _hi, part in gathered:
            read.seen += part.seen
            read.complete += part.complete
            read.incomplete += part.incomplete
            read.mapped += part.mapped
            read.rejected += part.rejected
        out = (gathered[0][0], gathered[-1][1], read, len(gathered))
        gathered.clear()
        return out

    for item in reads:
        gathered.append(item)
        last = not item[2].seen or (stop is not None and stop.is_set())
        if last or len(gathered) >= WINDOWS_PER_COMMIT:
            yield merged()
    if gathered:
        yield merged()


def _db_retry(fn: Callable[[], T]) -> T:
    """Run a database step, waiting out an outage (the retry policy lives in sync.retry)."""
    return store.call(fn)


def _read(
    result: str | None,
    binding: Binding,
    catalogue: Catalogue,
    token_key: bytes | None,
    *,
    zone: ZoneInfo,
    asked: Container[int] | None = None,
) -> _Read:
    """An export as LimeSurvey sent it (``export_window_result``) -> what ``store``
    writes: decoded, parsed, mapped. ``asked``: keep only these ids (a re-read span).

    A row that cannot even be parsed (a date that is not a date) is quarantined like a
    row that does not map (``unreadable_row``): a bad row never stops the others."""
    sid = binding.survey_id
    unreadable: list[tuple[int, InputError]] = []
    rows = (
        []
        if result is None
        else parse_export(result, zone=zone, survey_id=sid, unreadable=unreadable)
    )
    if asked is not None:
        rows = [row for row in rows if row.response_id in asked]
        unreadable = [(rid, exc) for rid, exc in unreadable if rid in asked]
    read = _split(rows, binding, catalogue, token_key)
    for rid, exc in unreadable:
        read.seen.append(rid)
        read.complete.append(rid)
        expected = f" ({exc.fix})" if exc.fix else ""
        reason = (
            f"{exc.problem} in survey {sid} response {rid}{expected}; fix the response in "
            "LimeSurvey, then run `pingyi quarantine retry`"
        )
        read.rejected.append((rid, Rejected("unreadable_row", reason, {"problem": exc.problem})))
    return read


def _split(
    rows: Sequence[ExportRow], binding: Binding, catalogue: Catalogue, token_key: bytes | None
) -> _Read:
    read = _Read([], [], [], [], [])
    for row in rows:
        read.seen.append(row.response_id)
        if not row.completed:
            read.incomplete.append(row.response_id)
            continue
        read.complete.append(row.response_id)
        outcome = map_row(row, binding, catalogue, token_key=token_key)
        if isinstance(outcome, Mapped):
            read.mapped.append(outcome)
        else:
            read.rejected.append((row.response_id, outcome))
    return read


def run_pass(
    engine: Engine,
    client: LimeSurveyClient,
    site: SiteConfig,
    binding: Binding,
    catalogue: Catalogue,
    *,
    kind: str = "poll",
    full: bool = False,
    id_range: tuple[int, int] | None = None,
    ids: Sequence[int] | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    token_key: bytes | None = None,
    pending_max_age_days: float = 30.0,
    now: Callable[[], datetime] | None = None,
    probe: bool = False,
    hinted: Mapping[int, datetime] | None = None,
) -> PassReport:
    """One pass over one survey (see the module doc). Returns what it did (or, with
    ``dry_run``, what it would do: nothing is written, the audit row included).

    ``ids``: re-read just these ids (``quarantine retry``): ids no longer in LimeSurvey
    are resolved/marked deleted, the cursor does not move. ``probe``: list the completed
    ids below the high water on a shortfall even if ``PROBE_INTERVAL`` has not passed
    (``pingyi resync``). ``hinted``: response ids that completion webhooks named since the
    last pass, and when each was heard (the daemon): looked up first on a shortfall, and
    their submit dates compared with those moments (``sync.siteclock``)."""
    from sync.db import utcnow

    clock = now or utcnow
    heard: Mapping[int, datetime] = hinted or {}
    sid = binding.survey_id
    started = time.monotonic()
    calls_before = len(client.calls)
    report = PassReport(dry_run=dry_run, full=full, zone=site.timezone)
    key = store.SurveyKey(site.name, sid)

    state = _db_retry(lambda: store.load_state(engine, key))
    cursor = Cursor(state.high_water, frozenset(state.pending))
    report.stale_clock = state.clock_zone not in (None, site.timezone)
    run_id = None if dry_run else _db_retry(lambda: store.start_run(engine, key, kind, clock()))
    reading: siteclock.ClockReading | None = None

    def write(
        read: _Read,
        *,
        vanish_range: tuple[int, int] | None = None,
        vanish_ids: Sequence[int] = (),
        drop_pending: Sequence[int] = (),
        high_water: int | None = None,
    ) -> store.WindowResult:
        stamp = clock()
        batch = store.Window(
            key=key,
            mapped=read.mapped,
            rejected=read.rejected,
            incomplete=read.incomplete,
            seen=read.seen,
            vanish_range=vanish_range,
            vanish_ids=list(vanish_ids),
            drop_pending=list(drop_pending),
            high_water=high_water,
            now=stamp,
        )
        result = _db_retry(lambda: store.write_window(engine, batch, dry_run=dry_run))
        nonlocal reading
        reading = siteclock.most_telling([reading, siteclock.read_clock(read.mapped, heard, stamp)])
        report.fetched += len(read.seen)
        report.add(result)
        if progress is not None:
            progress(report.fetched, 0)
        return result

    def reread(wanted: Iterable[int]) -> Iterator[tuple[list[int], _Read]]:
        """Scattered ids in a few exports (``read_spans``), each span mapped and handed
        over with the ids asked for in it; rows not asked for are dropped."""
        ordered = sorted(set(wanted))
        at = 0
        for lo, hi in read_spans(ordered, site.window):
            asked: list[int] = []
            while at < len(ordered) and ordered[at] <= hi:
                asked.append(ordered[at])
                at += 1
            result = client.export_window_result(sid, lo, hi)
            yield (
                asked,
                _read(
                    result, binding, catalogue, token_key, zone=client.site.zone, asked=set(asked)
                ),
            )

    def read_missing(missing: Sequence[int], high_water: int) -> None:
        """Completed responses below the high water that the records lack, read like
        pending ones."""
        nonlocal cursor
        if not missing:
            return
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        log.warning(
            "survey %s: %d completed responses below the high water %d were not in the "
            "records (ids %s): LimeSurvey gave them ids below responses already read (on "
            "PostgreSQL an explicit id does not move the id sequence) or they were completed "
            "after their pending id expired; reading them now",
            sid,
            len(missing),
            high_water,
            shown,
        )
        report.found_below += len(missing)
        for _asked, read in reread(missing):
            write(read)
            cursor = cursor.seen(read.complete, read.incomplete)

    def settle_clock() -> None:
        """The pass's clock reading into the report, and its warning into the log."""
        if reading is None:
            return
        report.clock_offset_s = reading.offset.total_seconds()
        if reading.wrong:
            log.warning(
                "%s", siteclock.explain(reading, site=site.name, survey_id=sid, zone=site.zone)
            )

    def unread(ids: Iterable[int]) -> list[int]:
        """Of ``ids``, those this pass did not read: at or below the high water it started
        from and not pending then (the pending re-read and the windows read the rest)."""
        return sorted(i for i in ids if i <= state.high_water and i not in state.pending)

    def recount() -> int:
        return _db_retry(lambda: store.known_completed(engine, key))

    def find_below(completed_in_limesurvey: int, high_water: int, known: int) -> int:
        """Step 3 on a shortfall with nothing above the high water: first the ids that
        completion webhooks named (``hinted``), then, when due, a listing of every
        completed id below the high water. Returns the records' count afterwards."""
        named = _db_retry(lambda: store.unaccounted(engine, key, unread(set(heard))))
        if named:
            read_missing(named, high_water)
            known = recount()
        short = completed_in_limesurvey > known + (report.inserted if dry_run else 0)
        if not short or not probe_due(state.probed_at, clock(), probe):
            return known
        report.probed = True
        listed = client.completed_ids(sid, 1, high_water)
        missing = _db_retry(lambda: store.unaccounted(engine, key, listed))
        earlier = unread(missing)
        if not missing:
            log.warning(
                "survey %s: LimeSurvey counts %d completed responses, more than the records "
                "account for, but every completed id up to %d is in the records; "
                "`pingyi resync --full` compares them response by response",
                sid,
                completed_in_limesurvey,
                high_water,
            )
        elif not earlier and not dry_run:
            log.info(
                "survey %s: %d responses read incomplete in this pass have been completed "
                "since; the next pass reads them",
                sid,
                len(missing),
            )
        read_missing(earlier, high_water)
        return recount() if earlier else known

    try:
        if ids is not None:
            for asked, read in reread(ids):
                returned = set(read.seen)
                write(read, vanish_ids=[i for i in asked if i not in returned])
            id_range = (1, 0)  # no windows, no end detection
        # 1. pending ids: completed ones are stored, vanished and expired ones dropped
        elif id_range is None and cursor.pending:
            cutoff = clock() - timedelta(days=pending_max_age_days)
            expired = [i for i, seen_at in state.pending.items() if seen_at < cutoff]
            if expired:
                log.info("survey %s: %d pending ids expired", sid, len(expired))
                write(_Read([], [], [], [], []), drop_pending=expired)
                report.expired += len(expired)
                cursor = cursor.dropped(expired)
            for asked, read in reread(cursor.pending):
                returned = set(read.seen)
                gone = [i for i in asked if i not in returned]
                write(read, drop_pending=gone)
                # re-read ids are below the high water: only pending changes
                cursor = cursor.dropped([*gone, *read.complete])

        # 2. windows
        reach: int | None = cursor.high_water
        if id_range is not None:
            spans = windows(id_range[0], site.window, stop_after=id_range[1])
            reach = None
        elif full:
            spans = windows(1, site.window)
        else:
            spans = windows(cursor.high_water + 1, site.window)

        moving = id_range is None
        while True:
            prefetch = _Prefetch(
                lambda lo, hi: client.export_window_result(sid, lo, hi),
                # decoded, parsed and mapped in the mapping thread, beside the next export
                # and the database's work
                lambda result: _read(result, binding, catalogue, token_key, zone=client.site.zone),
                spans,
                stop_when_empty_after=reach,
            )
            try:
                for lo, hi, read, count in _batched(prefetch, stop):
                    cursor = cursor.seen(read.complete, read.incomplete)
                    write(
                        read,
                        vanish_range=(lo, hi) if (full or id_range) else None,
                        high_water=cursor.high_water if moving and read.seen else None,
                    )
                    report.windows += count
                    if stop is not None and stop.is_set():
                        report.stopped = True
                        break
            finally:
                prefetch.close()
            if report.stopped or id_range is not None:
                break
            # 3. the end? summary count against what the records hold; probe on a difference
            summary = client.summary(sid)
            known = recount()
            if not end_decision(summary.completed, known):
                above = client.ids_above(sid, cursor.high_water)
                if above:
                    spans = windows(above[0], site.window)
                    reach = 0
                    full = False  # past the old high water a full pass is an ordinary one
                    continue
                if summary.completed < known:
                    log.warning(
                        "survey %s: LimeSurvey holds %d completed responses, the records %d: "
                        "responses were deleted in LimeSurvey (`pingyi resync --full` marks "
                        "them deleted), or the survey was deactivated, which moves its "
                        "responses to an archive table, and activated again. Then bring them "
                        "back first (LimeSurvey: Responses > Import from a deactivated survey "
                        "table, 'Preserve response IDs' ticked), or `resync --full` would mark "
                        "them deleted. `pingyi resync --full --dry-run` shows what it would do; "
                        "see docs/status-and-errors.md",
                        sid,
                        summary.completed,
                        known,
                    )
                elif not full:  # (a full pass has just read every id)
                    known = find_below(summary.completed, cursor.high_water, known)
            report.shortfall = None if dry_run else summary.completed - known
            break

        report.high_water = cursor.high_water
        report.pending = len(cursor.pending)
    except PingyiError as failure:
        error = failure
        # the windows written before the failure were read all the same: their clock
        # reading counts (the webhooks' ids given back will not be read again)
        settle_clock()
        report.rc2_calls = len(client.calls) - calls_before
        report.duration_s = time.monotonic() - started
        if not dry_run:
            _db_retry(lambda: store.finish_run(engine, key, run_id, report, clock(), error=error))
        raise
    settle_clock()
    report.rc2_calls = len(client.calls) - calls_before
    report.duration_s = time.monotonic() - started
    if not dry_run:
        _db_retry(lambda: store.finish_run(engine, key, run_id, report, clock(), error=None))
    return report
