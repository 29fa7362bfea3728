"""The operator survey: every reactivex operator between a pull source and ``controlled()``.

The list of operators is read from the *installed* reactivex at run time (:func:`installed`):
every public function of ``reactivex.operators`` and every creation function of ``reactivex``.
Each has a small case in :data:`CASES`: how to put it between ``random_integers()`` (or another
source) and ``controlled()``, with sensible arguments; time-based ones run on a virtual clock
(``reactivex.testing.TestScheduler``), advanced by the survey, so that the run stays quick. The
clock is given to ``subscribe(..., scheduler=clock)`` and reaches the operators through the demand
channel: an operator given ``scheduler=`` itself subscribes upstream with it, and the source,
which no longer sees the channel, pushes (with a virtual clock it pushes forever at one instant).

Each case is measured with the composition harness's properties (``tests/composition.py``):

A. ``subscribe()`` returns within 2 s;
B. after ``request(5)``: at most 5 delivered, and no error but ``BufferOverflowError``;
C. generated at the sources <= demand x ratio + one chunk per stream;
D. ``request(1000)`` twice delivers exactly 2005 in all, or the stream ends;
E. after ``cancel()`` generation stops (and, for threaded cases, no thread keeps a core busy);
F. memory bounded: the peak of Python allocations stays under 16 MiB;

and ``ahead``, the most items pull sources emitted beyond what demand asked for (``pulled`` -
ratio x delivered, after each step). The measured class is then (:func:`classify`):

* ``breaks``: a property fails (a stall, an over-delivery, a hang, an unexpected error);
* ``push``: the stream ended in ``BufferOverflowError`` (a source that ignores demand: rxrand
  buffers ``capacity`` items, then errors, documented);
* ``n/a``: the stream ended within the first ``request(5)``, or nothing was ever generated
  (a reducer, a single value, ``never()``): there is nothing to pace;
* ``pulls``: within 64 items of the demand (``ahead <= SLACK``);
* ``prefetch``: further ahead, within the bound that the table states.

:data:`CASES` holds the expected class of each; ``tests/ops/test_operator_table.py`` fails when an
installed operator has no case or when a measured class differs. ``python -m tests.operators``
prints the table that ``docs/operators.md`` holds (:func:`page`).
"""

from __future__ import annotations

import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import reactivex
import reactivex.operators as ops
from reactivex import Observable
from reactivex.disposable import Disposable
from reactivex.scheduler import NewThreadScheduler, ThreadPoolScheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rxrand
from rxrand import BufferOverflowError, controlled
from rxrand.testing import RecordingSubscriber

from .composition import MEMORY_LIMIT, Sources

Class = Literal["pulls", "prefetch", "push", "n/a", "breaks"]
CLASSES: tuple[Class, ...] = ("pulls", "prefetch", "push", "n/a", "breaks")

#: Items a pull-through stage may run ahead of demand (a skip(3), a pairwise, one burst's slack).
SLACK = 64
#: The request operator's default capacity: the prefetch ahead of a reactivex thread hop.
CAPACITY = 1024
POOL = ThreadPoolScheduler(2)


def _public_functions(module: object) -> list[str]:
    """Public callables that ``module`` defines or re-exports from reactivex (no classes, no
    type aliases from ``reactivex.typing``, no helpers from ``reactivex.internal``)."""
    names = []
    for name in dir(module):
        obj = getattr(module, name)
        where = str(getattr(obj, "__module__", ""))
        if name.startswith("_") or not callable(obj) or isinstance(obj, type):
            continue
        if where.split(".")[0] != "reactivex" or where.startswith(
            ("reactivex.typing", "reactivex.internal")
        ):
            continue
        names.append(name)
    return names


def installed() -> list[str]:
    """Every operator and creation function of the installed reactivex, as table keys."""
    operators = [f"ops.{name}" for name in _public_functions(ops)]
    creations = [f"reactivex.{name}" for name in _public_functions(reactivex)]
    return sorted(operators) + sorted(creations)


class Env(Sources):
    """A case's sources, and the virtual clock its time-based operators run on."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = TestScheduler()

    def count_up(self, start: int = 0) -> Observable[int]:
        """An endless pull source of distinct integers, counted exactly."""
        return rxrand.from_iterable(self.counting(itertools.count(start)))

    def pushed(self, n: int | None) -> Iterator[int]:
        """An iterator for a push source, counted exactly (``None``: endless)."""
        return self.counting(itertools.count() if n is None else iter(range(n)))


Build = Callable[[Env], Observable[Any]]


@dataclass(frozen=True)
class Case:
    key: str
    #: The chain before ``controlled()``; ``None``: it cannot be one (``to_future``).
    build: Build | None
    expected: Class
    note: str = ""
    #: For ``prefetch``: the most items pulled ahead of demand.
    bound: int = 0
    #: Items pulled per item delivered (buffer_with_count(10): 10).
    ratio: float = 1.0
    #: Virtual seconds per step of the clock, when the case runs on it.
    tick: float = 0.0
    #: Real seconds to let other threads settle, when the case has any.
    wait: float = 0.0
    #: Errors that end the stream as its own documented behaviour (``throw``).
    errors: tuple[type[Exception], ...] = ()
    #: How the case is spelled in the table.
    spelled: str = ""


@dataclass
class Measured:
    case: Case
    cls: Class = "pulls"
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, column: str, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(f"{column}: {problem}")


def measure(case: Case, memory: bool = True) -> Measured:
    """Run one case through properties A-F and classify it (F only with ``memory``)."""
    result = Measured(case)
    if case.build is None:
        result.cls = "n/a"
        return result
    env = Env()
    probe = RecordingSubscriber[Any]()
    holder: list[Any] = []
    if memory:
        tracemalloc.start()
    try:
        _run(case, env, probe, holder, result)
    finally:
        if memory:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        if holder:
            holder[0].cancel()
    if memory:
        result.figures["peak MiB"] = round(peak / (1 << 20), 2)
        result.check("F", peak <= MEMORY_LIMIT, f"peak {peak / (1 << 20):.1f} MiB")
    result.cls = classify(result, probe, env)
    return result


#: Clock ticks that pass after ``request(5)`` whatever arrived: time passes while a consumer
#: waits, and a source that pushes on the clock shows it.
WAIT_TICKS = 20


def _settle(
    case: Case, env: Env, probe: RecordingSubscriber[Any], target: int, ticks: int = 0
) -> None:
    """Let the case reach ``target`` items or its end: clock ticks, or real waiting."""

    def reached() -> bool:
        return len(probe.values) >= target or probe.terminated

    if case.tick:
        for tick in range(max(50, ticks)):
            if reached() and tick >= ticks:
                break
            env.clock.advance_by(case.tick)
    if case.wait:
        deadline = time.monotonic() + case.wait
        while not reached() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)


def _ahead(case: Case, probe: RecordingSubscriber[Any], holder: list[Any]) -> int:
    return round(holder[0].pulled - case.ratio * len(probe.values))


def _run(
    case: Case,
    env: Env,
    probe: RecordingSubscriber[Any],
    holder: list[Any],
    result: Measured,
) -> None:
    assert case.build is not None
    try:
        publisher = case.build(env).pipe(controlled())
    except Exception as error:
        result.check("A", False, f"building the chain raised {error!r}")
        return
    # A: subscribe returns.
    done = threading.Event()
    failed: list[BaseException] = []

    def subscribe() -> None:
        try:
            # The virtual clock goes to subscribe(), never to an operator: reactivex's time
            # operators subscribe upstream with the scheduler they are given, which would
            # replace the demand channel (the source would push).
            clock = env.clock if case.tick else None
            holder.append(publisher.subscribe(probe, scheduler=clock))
        except BaseException as error:
            failed.append(error)
        done.set()

    threading.Thread(target=subscribe, daemon=True, name=f"subscribe {case.key}").start()
    returned = done.wait(2.0)
    result.check("A", returned and not failed, f"subscribe() did not return ({failed!r})")
    if not holder:
        return
    allowed = (BufferOverflowError, *case.errors)

    # B: request(5).
    probe.request(5)
    _settle(case, env, probe, 5, WAIT_TICKS)
    delivered = len(probe.values)
    result.figures["after request(5)"] = delivered
    ahead = _ahead(case, probe, holder)
    result.check("B", delivered <= 5, f"{delivered} delivered for request(5)")

    # D: request(1000) twice.
    if not probe.terminated:
        probe.request(1000)
        probe.request(1000)
    _settle(case, env, probe, 2005)
    got = len(probe.values)
    result.figures["after request(2005)"] = got
    if not probe.terminated:
        ahead = max(ahead, _ahead(case, probe, holder))
    result.figures["ahead"] = ahead
    unexpected = [e for e in probe.errors if not isinstance(e, allowed)]
    result.check("B", not unexpected, f"errors {unexpected!r}")
    result.check("D", got == 2005 or probe.terminated, f"{got} delivered of 2005, no end")

    # C: generation bounded by demand.
    generated = env.generated
    bound = round(2005 * case.ratio) + env.allowance
    result.figures["generated"] = generated
    result.figures["pulled"] = holder[0].pulled
    overflowed = any(isinstance(e, BufferOverflowError) for e in probe.errors)
    if not overflowed:
        result.check("C", generated <= bound, f"generated {generated} > {bound}")

    # E: cancel stops generation; no thread spins.
    probe.cancel()
    before = env.generated
    if case.tick:
        env.clock.advance_by(case.tick * 10)
    if case.wait:
        time.sleep(0.1)
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(0.1)
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
        result.check("E", busy < 0.5, f"{busy:.0%} of a core busy after cancel")
        before = env.generated
        time.sleep(0.05)
    result.check("E", env.generated == before, f"generated {env.generated - before} after cancel")


def classify(result: Measured, probe: RecordingSubscriber[Any], env: Env) -> Class:
    """The class the measured properties put a case in (see the module docstring)."""
    silent = not probe.values and env.generated == 0 and not result.figures.get("pulled")
    if silent and result.problems and all(p.startswith("D:") for p in result.problems):
        return "n/a"  # never(): nothing generated, nothing to deliver
    if result.problems:
        return "breaks"
    if any(isinstance(e, BufferOverflowError) for e in probe.errors):
        return "push"
    if probe.terminated and len(probe.values) <= 5:
        return "n/a"  # ended within the first request(5): a reducer, a single value
    if result.figures.get("ahead", 0) <= SLACK:
        return "pulls"
    return "prefetch"


def agrees(case: Case, measured: Measured) -> bool:
    """Whether a measurement matches the table: a prefetch within its bound may look like pulls."""
    if case.expected == "prefetch":
        return measured.cls in ("pulls", "prefetch") and (
            measured.figures.get("ahead", 0) <= case.bound + SLACK
        )
    return measured.cls == case.expected


# -- the cases ------------------------------------------------------------------------------

_FINITE = 3000  # the length of a reducer's input: it needs all of it for its one item


def _inner(env: Env) -> Callable[[Any], Observable[int]]:
    return lambda _: env.ints(2)


def _pair(_: Any) -> Observable[int]:
    """An inner source of two items, cheap to make (a switch makes thousands)."""
    return rxrand.from_iterable((1, 2))


_SWITCH = "pulls through; each grant makes up to 16 inner sources and all but the last are dropped"


def _failing_every(limit: int) -> Callable[[int], int]:
    seen = [0]

    def check(value: int) -> int:
        seen[0] += 1
        if seen[0] % limit == 0:
            raise RuntimeError("transient")
        return value

    return check


def _push_loop(env: Env, n: int) -> Observable[int]:
    def subscribe(observer: Any, _: Any = None) -> Any:
        for value in env.pushed(n):
            observer.on_next(value)
        observer.on_completed()
        return Disposable()

    return reactivex.create(subscribe)


def _done_future(value: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(value)
    return future


@dataclass(frozen=True)
class _Attr:
    v: int


_CLOCK_LIST = (
    "(unfixed) the source is paced as if each list were one item: the first list holds "
    "capacity items, then demand for n lists draws about n items in all and most lists come "
    "empty (the ledger cannot tell a list made of many items from one late item); "
    "use buffer_with_count"
)
_CLOCK_DROP = (
    "stalls (unfixed): drops on a clock what a pull source gives at once; once parked at "
    "demand + capacity it trickles; pace the source with request(n) on a timer instead"
)
_LATEST = (
    "over-generates (unfixed): each side's burst collapses to its latest item, "
    "about 250 source items per tuple"
)
_CLOCK_HOLD = "items held on the clock count against capacity (1024)"
_REDUCER = "a reducer: one item at the end of a finite input (completes under request(1))"
_ONE = "one item or none: nothing to pace"
_VIA_HOP = "credit ahead of a reactivex thread hop is bounded by the prefetch (1024)"
_PUSHES = "pushes: bounded buffer, then BufferOverflowError"


def _c(key: str, build: Build | None, expected: Class, note: str = "", **kw: Any) -> Case:
    return Case(key, build, expected, note, **kw)


CASES_LIST: list[Case] = [
    # -- reactivex.operators --------------------------------------------------------------
    _c("ops.all", lambda s: s.ints(_FINITE).pipe(ops.all(lambda v: v >= 0)), "n/a", _REDUCER),
    _c(
        "ops.amb",
        lambda s: s.ints().pipe(ops.amb(s.ints(None, 2))),
        "pulls",
        "the first source to emit wins; the other is cancelled",
    ),
    _c("ops.as_observable", lambda s: s.ints().pipe(ops.as_observable()), "pulls"),
    _c("ops.average", lambda s: s.ints(_FINITE).pipe(ops.average()), "n/a", _REDUCER),
    _c(
        "ops.buffer",
        lambda s: s.ints().pipe(ops.buffer(reactivex.interval(0.1))),
        "breaks",
        _CLOCK_LIST,
        tick=1.0,
    ),
    _c(
        "ops.buffer_toggle",
        lambda s: s.ints().pipe(
            ops.buffer_toggle(reactivex.interval(0.1), lambda _: reactivex.timer(0.05))
        ),
        "breaks",
        _CLOCK_LIST,
        tick=1.0,
    ),
    _c(
        "ops.buffer_when",
        lambda s: s.ints().pipe(ops.buffer_when(lambda: reactivex.timer(0.1))),
        "breaks",
        _CLOCK_LIST,
        tick=1.0,
    ),
    _c(
        "ops.buffer_with_count",
        lambda s: s.ints().pipe(ops.buffer_with_count(10)),
        "pulls",
        "10 source items per list",
        ratio=10,
    ),
    _c(
        "ops.buffer_with_time",
        lambda s: s.ints().pipe(ops.buffer_with_time(0.1)),
        "breaks",
        _CLOCK_LIST,
        tick=1.0,
    ),
    _c(
        "ops.buffer_with_time_or_count",
        lambda s: s.ints().pipe(ops.buffer_with_time_or_count(0.1, 10)),
        "pulls",
        "the count (10) fills each list before the clock",
        tick=1.0,
        ratio=10,
    ),
    _c(
        "ops.catch",
        lambda s: s.ints(500).pipe(
            ops.map(_failing_every(400)), ops.catch(lambda _e, _src: s.ints(None, 2))
        ),
        "pulls",
        "switches to the handler's source",
    ),
    _c("ops.combine_latest", lambda s: s.ints().pipe(ops.combine_latest(s.ints(None, 2))), "pulls"),
    _c("ops.compose", lambda s: s.ints().pipe(ops.compose(ops.map(abs))), "pulls"),
    _c("ops.concat", lambda s: s.ints(1500).pipe(ops.concat(s.ints(1500, 2))), "pulls"),
    _c(
        "ops.concat_all",
        lambda s: s.ints().pipe(ops.map(_inner(s)), ops.concat_all()),
        "prefetch",
        "outer items wait in the concat queue: up to the open demand + capacity",
        bound=2048,
        ratio=1.5,
    ),
    _c(
        "ops.concat_map",
        lambda s: s.ints().pipe(ops.concat_map(_inner(s))),
        "prefetch",
        "outer items wait in the concat queue: up to the open demand + capacity",
        bound=2048,
        ratio=1.5,
    ),
    _c("ops.contains", lambda s: s.ints(_FINITE).pipe(ops.contains(-1)), "n/a", _REDUCER),
    _c("ops.count", lambda s: s.ints(_FINITE).pipe(ops.count()), "n/a", _REDUCER),
    _c(
        "ops.debounce",
        lambda s: s.ints().pipe(ops.debounce(0.1)),
        "breaks",
        _CLOCK_DROP,
        tick=1.0,
    ),
    _c("ops.default_if_empty", lambda s: s.ints().pipe(ops.default_if_empty(-1)), "pulls"),
    _c(
        "ops.delay",
        lambda s: s.ints().pipe(ops.delay(0.1)),
        "prefetch",
        _CLOCK_HOLD,
        bound=CAPACITY,
        tick=1.0,
    ),
    _c(
        "ops.delay_subscription",
        lambda s: s.ints().pipe(ops.delay_subscription(0.1)),
        "prefetch",
        "subscribed from a clock action: up to capacity (1024) ahead",
        bound=1024,
        tick=1.0,
    ),
    _c(
        "ops.delay_with_mapper",
        lambda s: s.ints().pipe(ops.delay_with_mapper(lambda _: reactivex.timer(0.1))),
        "prefetch",
        _CLOCK_HOLD,
        bound=CAPACITY,
        tick=1.0,
    ),
    _c(
        "ops.dematerialize",
        lambda s: s.ints().pipe(ops.materialize(), ops.dematerialize()),
        "pulls",
    ),
    _c("ops.distinct", lambda s: s.count_up().pipe(ops.distinct()), "pulls"),
    _c(
        "ops.distinct_until_changed",
        lambda s: s.ints().pipe(ops.distinct_until_changed()),
        "pulls",
    ),
    _c("ops.do", lambda s: s.ints().pipe(ops.do(reactivex.Observer())), "pulls"),
    _c("ops.do_action", lambda s: s.ints().pipe(ops.do_action(lambda _: None)), "pulls"),
    _c("ops.do_while", lambda s: s.ints(100).pipe(ops.do_while(lambda _: True)), "pulls"),
    _c("ops.element_at", lambda s: s.ints().pipe(ops.element_at(3)), "n/a", _ONE),
    _c(
        "ops.element_at_or_default",
        lambda s: s.ints().pipe(ops.element_at_or_default(3)),
        "n/a",
        _ONE,
    ),
    _c(
        "ops.exclusive",
        lambda s: s.ints().pipe(ops.map(_inner(s)), ops.exclusive()),
        "breaks",
        "stalls (unfixed): the outer items it drops while an inner source runs look, to the "
        "ledger, like items queued by concat_map, which must park the outer source at demand + "
        "capacity; there is no way to tell them apart from outside the operator",
        ratio=1.5,
    ),
    _c(
        "ops.expand",
        lambda s: s.ints().pipe(ops.expand(lambda _: reactivex.empty())),
        "pulls",
        "",
    ),
    _c("ops.filter", lambda s: s.ints().pipe(ops.filter(lambda v: v >= 0)), "pulls"),
    _c(
        "ops.filter_indexed",
        lambda s: s.ints().pipe(ops.filter_indexed(lambda v, i: v >= 0)),
        "pulls",
    ),
    _c("ops.finally_action", lambda s: s.ints().pipe(ops.finally_action(lambda: None)), "pulls"),
    _c("ops.find", lambda s: s.ints().pipe(ops.find(lambda v, i, src: v >= 0)), "n/a", _ONE),
    _c(
        "ops.find_index",
        lambda s: s.ints().pipe(ops.find_index(lambda v, i, src: v >= 0)),
        "n/a",
        _ONE,
    ),
    _c("ops.first", lambda s: s.ints().pipe(ops.first()), "n/a", _ONE),
    _c("ops.first_or_default", lambda s: s.ints().pipe(ops.first_or_default()), "n/a", _ONE),
    _c("ops.flat_map", lambda s: s.ints().pipe(ops.flat_map(_inner(s))), "pulls", ratio=1.5),
    _c(
        "ops.flat_map_indexed",
        lambda s: s.ints().pipe(ops.flat_map_indexed(lambda _v, _i: s.ints(2))),
        "pulls",
        ratio=1.5,
    ),
    _c(
        "ops.flat_map_latest",
        lambda s: s.ints().pipe(ops.flat_map_latest(_pair)),
        "pulls",
        _SWITCH,
        ratio=9,
    ),
    _c(
        "ops.fork_join",
        lambda s: s.ints(_FINITE).pipe(ops.fork_join(s.ints(_FINITE, 2))),
        "n/a",
        _REDUCER,
    ),
    _c(
        "ops.group_by",
        lambda s: s.ints().pipe(ops.group_by(lambda v: v % 3), ops.merge_all()),
        "pulls",
    ),
    _c(
        "ops.group_by_until",
        lambda s: s.ints().pipe(
            ops.group_by_until(lambda v: v % 3, None, lambda _: reactivex.never()),
            ops.merge_all(),
        ),
        "pulls",
    ),
    _c(
        "ops.group_join",
        lambda s: s.ints().pipe(
            ops.group_join(
                s.ints(None, 2), lambda _: reactivex.empty(), lambda _: reactivex.empty()
            ),
            ops.map(lambda pair: pair[0]),
        ),
        "prefetch",
        "the right source runs ahead: its items wait in windows (open demand + capacity)",
        bound=2048,
    ),
    _c("ops.ignore_elements", lambda s: s.ints(_FINITE).pipe(ops.ignore_elements()), "n/a", _ONE),
    _c("ops.is_empty", lambda s: s.ints().pipe(ops.is_empty()), "n/a", _ONE),
    _c(
        "ops.join",
        lambda s: s.ints().pipe(
            ops.join(s.ints(None, 2), lambda _: reactivex.empty(), lambda _: reactivex.empty())
        ),
        "breaks",
        "nothing joins when windows close at once: both sources park at demand + capacity "
        "(the arguments' doing: a join holds or drops what it swallows)",
    ),
    _c("ops.last", lambda s: s.ints(_FINITE).pipe(ops.last()), "n/a", _REDUCER),
    _c(
        "ops.last_or_default",
        lambda s: s.ints(_FINITE).pipe(ops.last_or_default()),
        "n/a",
        _REDUCER,
    ),
    _c("ops.map", lambda s: s.ints().pipe(ops.map(lambda v: v * 2)), "pulls"),
    _c("ops.map_indexed", lambda s: s.ints().pipe(ops.map_indexed(lambda v, i: v + i)), "pulls"),
    _c("ops.materialize", lambda s: s.ints().pipe(ops.materialize()), "pulls"),
    _c("ops.max", lambda s: s.ints(_FINITE).pipe(ops.max()), "n/a", _REDUCER),
    _c("ops.max_by", lambda s: s.ints(_FINITE).pipe(ops.max_by(abs)), "n/a", _REDUCER),
    _c("ops.merge", lambda s: s.ints().pipe(ops.merge(s.ints(None, 2))), "pulls"),
    _c(
        "ops.merge_all",
        lambda s: s.ints().pipe(ops.map(_inner(s)), ops.merge_all()),
        "pulls",
        ratio=1.5,
    ),
    _c("ops.min", lambda s: s.ints(_FINITE).pipe(ops.min()), "n/a", _REDUCER),
    _c("ops.min_by", lambda s: s.ints(_FINITE).pipe(ops.min_by(abs)), "n/a", _REDUCER),
    _c(
        "ops.multicast",
        lambda s: s.ints().pipe(ops.multicast(Subject()), ops.ref_count()),
        "pulls",
    ),
    _c(
        "ops.observe_on",
        lambda s: s.ints().pipe(ops.observe_on(POOL)),
        "prefetch",
        _VIA_HOP + "; or use rxrand.observe_on (prefetch 128)",
        bound=CAPACITY,
        wait=1.0,
    ),
    _c(
        "ops.on_error_resume_next",
        lambda s: s.ints(1500).pipe(ops.on_error_resume_next(s.ints(None, 2))),
        "pulls",
        "",
    ),
    _c("ops.pairwise", lambda s: s.ints().pipe(ops.pairwise()), "pulls"),
    _c(
        "ops.partition",
        lambda s: ops.partition(lambda v: v >= 0)(s.ints())[0],
        "pulls",
        "one of the two parts",
    ),
    _c(
        "ops.partition_indexed",
        lambda s: ops.partition_indexed(lambda v, i: v >= 0)(s.ints())[0],
        "pulls",
        "one of the two parts",
    ),
    _c(
        "ops.pluck",
        lambda s: s.ints().pipe(ops.map(lambda v: {"v": v}), ops.pluck("v")),
        "pulls",
    ),
    _c(
        "ops.pluck_attr",
        lambda s: s.ints().pipe(ops.map(_Attr), ops.pluck_attr("v")),
        "pulls",
    ),
    _c("ops.publish", lambda s: s.ints().pipe(ops.publish(), ops.ref_count()), "pulls"),
    _c(
        "ops.publish_value",
        lambda s: s.ints().pipe(ops.publish_value(-1), ops.ref_count()),
        "pulls",
    ),
    _c("ops.reduce", lambda s: s.ints(_FINITE).pipe(ops.reduce(max)), "n/a", _REDUCER),
    _c("ops.ref_count", lambda s: s.ints().pipe(ops.publish(), ops.ref_count()), "pulls"),
    _c("ops.repeat", lambda s: s.ints(100).pipe(ops.repeat()), "pulls"),
    _c(
        "ops.replay",
        lambda s: s.ints().pipe(ops.replay(buffer_size=10), ops.ref_count()),
        "pulls",
    ),
    _c("ops.retry", lambda s: s.ints().pipe(ops.map(_failing_every(1500)), ops.retry()), "pulls"),
    _c(
        "ops.sample",
        lambda s: s.ints().pipe(ops.sample(0.1)),
        "breaks",
        _CLOCK_DROP,
        tick=1.0,
    ),
    _c("ops.scan", lambda s: s.ints().pipe(ops.scan(lambda a, v: a + v, 0)), "pulls"),
    _c(
        "ops.sequence_equal",
        lambda s: s.ints(_FINITE).pipe(ops.sequence_equal(s.ints(_FINITE))),
        "n/a",
        _REDUCER,
    ),
    _c("ops.share", lambda s: s.ints().pipe(ops.share()), "pulls"),
    _c("ops.single", lambda s: s.ints(1).pipe(ops.single()), "n/a", _ONE),
    _c("ops.single_or_default", lambda s: s.ints(1).pipe(ops.single_or_default()), "n/a", _ONE),
    _c(
        "ops.single_or_default_async",
        lambda s: s.ints(1).pipe(ops.single_or_default_async()),
        "n/a",
        _ONE,
    ),
    _c("ops.skip", lambda s: s.ints().pipe(ops.skip(3)), "pulls"),
    _c("ops.skip_last", lambda s: s.ints().pipe(ops.skip_last(3)), "pulls"),
    _c(
        "ops.skip_last_with_time",
        lambda s: s.ints().pipe(ops.skip_last_with_time(0.1)),
        "breaks",
        "stalls (unfixed): holds items for a time on the clock, then the ledger writes off one "
        "per late arrival",
        tick=1.0,
    ),
    _c(
        "ops.skip_until",
        lambda s: s.ints().pipe(ops.skip_until(reactivex.return_value(0))),
        "pulls",
    ),
    _c(
        "ops.skip_until_with_time",
        lambda s: s.ints().pipe(ops.skip_until_with_time(0.1)),
        "prefetch",
        "items before the time are skipped: up to capacity (1024)",
        bound=1024,
        tick=1.0,
    ),
    _c("ops.skip_while", lambda s: s.ints().pipe(ops.skip_while(lambda v: v < 0)), "pulls"),
    _c(
        "ops.skip_while_indexed",
        lambda s: s.ints().pipe(ops.skip_while_indexed(lambda v, i: i < 3)),
        "pulls",
    ),
    _c(
        "ops.skip_with_time",
        lambda s: s.ints().pipe(ops.skip_with_time(0.1)),
        "prefetch",
        "items before the time are skipped: up to capacity (1024)",
        bound=1024,
        tick=1.0,
    ),
    _c("ops.slice", lambda s: s.ints().pipe(ops.slice(3, None, 2)), "pulls", ratio=2),
    _c("ops.some", lambda s: s.ints().pipe(ops.some(lambda v: v >= 0)), "n/a", _ONE),
    _c(
        "ops.starmap",
        lambda s: s.ints().pipe(ops.map(lambda v: (v, v)), ops.starmap(lambda a, b: a + b)),
        "pulls",
    ),
    _c(
        "ops.starmap_indexed",
        lambda s: s.ints().pipe(
            ops.map(lambda v: (v, v, 0)), ops.starmap_indexed(lambda a, b, i: a + b + i)
        ),
        "pulls",
    ),
    _c("ops.start_with", lambda s: s.ints().pipe(ops.start_with(-1, -2)), "pulls"),
    _c(
        "ops.subscribe_on",
        lambda s: s.ints().pipe(ops.subscribe_on(NewThreadScheduler())),
        "push",
        "the demand channel is lost: " + _PUSHES + "; use rxrand.subscribe_on",
        wait=1.0,
    ),
    _c("ops.sum", lambda s: s.ints(_FINITE).pipe(ops.sum()), "n/a", _REDUCER),
    _c(
        "ops.switch_latest",
        lambda s: s.ints().pipe(ops.map(_pair), ops.switch_latest()),
        "pulls",
        _SWITCH,
        ratio=9,
    ),
    _c("ops.switch_map", lambda s: s.ints().pipe(ops.switch_map(_pair)), "pulls", _SWITCH, ratio=9),
    _c(
        "ops.switch_map_indexed",
        lambda s: s.ints().pipe(ops.switch_map_indexed(lambda v, _i: _pair(v))),
        "pulls",
        _SWITCH,
        ratio=9,
    ),
    _c("ops.take", lambda s: s.ints().pipe(ops.take(3000)), "pulls"),
    _c(
        "ops.take_last",
        lambda s: s.ints(_FINITE).pipe(ops.take_last(3)),
        "n/a",
        _REDUCER,
    ),
    _c(
        "ops.take_last_buffer",
        lambda s: s.ints(_FINITE).pipe(ops.take_last_buffer(3)),
        "n/a",
        _REDUCER,
    ),
    _c(
        "ops.take_last_with_time",
        lambda s: s.ints(_FINITE).pipe(ops.take_last_with_time(0.1)),
        "prefetch",
        "holds the last items of its input until it ends: here the whole finite input (3000)",
        bound=3000,
        tick=1.0,
    ),
    _c(
        "ops.take_until",
        lambda s: s.ints().pipe(ops.take_until(reactivex.never())),
        "pulls",
    ),
    _c(
        "ops.take_until_with_time",
        lambda s: s.ints().pipe(ops.take_until_with_time(1000.0)),
        "pulls",
    ),
    _c("ops.take_while", lambda s: s.ints().pipe(ops.take_while(lambda v: v >= 0)), "pulls"),
    _c(
        "ops.take_while_indexed",
        lambda s: s.ints().pipe(ops.take_while_indexed(lambda v, i: v >= 0)),
        "pulls",
    ),
    _c(
        "ops.take_with_time",
        lambda s: s.ints().pipe(ops.take_with_time(1000.0)),
        "pulls",
    ),
    _c("ops.tap", lambda s: s.ints().pipe(ops.tap(lambda _: None)), "pulls"),
    _c(
        "ops.throttle_first",
        lambda s: s.ints().pipe(ops.throttle_first(0.1)),
        "breaks",
        _CLOCK_DROP,
        tick=1.0,
    ),
    _c(
        "ops.throttle_with_mapper",
        lambda s: s.ints().pipe(ops.throttle_with_mapper(lambda _: reactivex.timer(0.1))),
        "breaks",
        _CLOCK_DROP,
        tick=1.0,
    ),
    _c(
        "ops.throttle_with_timeout",
        lambda s: s.ints().pipe(ops.throttle_with_timeout(0.1)),
        "breaks",
        _CLOCK_DROP,
        tick=1.0,
    ),
    _c("ops.time_interval", lambda s: s.ints().pipe(ops.time_interval()), "pulls"),
    _c("ops.timeout", lambda s: s.ints().pipe(ops.timeout(1000.0)), "pulls"),
    _c(
        "ops.timeout_with_mapper",
        lambda s: s.ints().pipe(ops.timeout_with_mapper(reactivex.never())),
        "pulls",
    ),
    _c("ops.timestamp", lambda s: s.ints().pipe(ops.timestamp()), "pulls"),
    _c("ops.to_dict", lambda s: s.ints(_FINITE).pipe(ops.to_dict(lambda v: v)), "n/a", _REDUCER),
    _c(
        "ops.to_future",
        None,
        "n/a",
        "returns a Future, not an Observable: it ends a chain (after controlled(), if at all)",
    ),
    _c("ops.to_iterable", lambda s: s.ints(_FINITE).pipe(ops.to_iterable()), "n/a", _REDUCER),
    _c("ops.to_list", lambda s: s.ints(_FINITE).pipe(ops.to_list()), "n/a", _REDUCER),
    _c(
        "ops.to_marbles",
        lambda s: s.ints(_FINITE).pipe(ops.to_marbles()),
        "n/a",
        _REDUCER,
    ),
    _c("ops.to_set", lambda s: s.ints(_FINITE).pipe(ops.to_set()), "n/a", _REDUCER),
    _c("ops.while_do", lambda s: s.ints(100).pipe(ops.while_do(lambda _: True)), "pulls"),
    _c(
        "ops.window",
        lambda s: s.ints().pipe(ops.window(reactivex.interval(0.1)), ops.merge_all()),
        "pulls",
        "windows on a clock, flattened",
        tick=1.0,
    ),
    _c(
        "ops.window_toggle",
        lambda s: s.ints().pipe(
            ops.window_toggle(reactivex.interval(0.1), lambda _: reactivex.timer(0.05)),
            ops.merge_all(),
        ),
        "prefetch",
        "items outside the windows are dropped: up to capacity (1024)",
        bound=1024,
        tick=1.0,
    ),
    _c(
        "ops.window_when",
        lambda s: s.ints().pipe(ops.window_when(lambda: reactivex.timer(0.1)), ops.merge_all()),
        "pulls",
        "windows on a clock, flattened",
        tick=1.0,
    ),
    _c(
        "ops.window_with_count",
        lambda s: s.ints().pipe(ops.window_with_count(10), ops.merge_all()),
        "pulls",
    ),
    _c(
        "ops.window_with_time",
        lambda s: s.ints().pipe(ops.window_with_time(0.1), ops.merge_all()),
        "pulls",
        tick=1.0,
    ),
    _c(
        "ops.window_with_time_or_count",
        lambda s: s.ints().pipe(ops.window_with_time_or_count(0.1, 10), ops.merge_all()),
        "pulls",
        tick=1.0,
    ),
    _c(
        "ops.with_latest_from",
        lambda s: s.ints().pipe(ops.with_latest_from(s.ints(None, 2))),
        "pulls",
        "two source items per tuple",
        ratio=2,
    ),
    _c(
        "ops.zip",
        lambda s: s.ints().pipe(ops.zip(s.ints(None, 2))),
        "pulls",
        "two source items per tuple",
        ratio=2,
    ),
    _c(
        "ops.zip_latest",
        lambda s: s.ints().pipe(ops.zip_latest(s.ints(None, 2))),
        "breaks",
        _LATEST,
    ),
    _c(
        "ops.zip_with_iterable",
        lambda s: s.ints().pipe(ops.zip_with_iterable(itertools.count())),
        "pulls",
    ),
    _c(
        "ops.zip_with_list",
        lambda s: s.ints().pipe(ops.zip_with_list(itertools.count())),
        "pulls",
    ),
    # -- reactivex creation functions -------------------------------------------------------
    _c("reactivex.amb", lambda s: reactivex.amb(s.ints(), s.ints(None, 2)), "pulls"),
    _c(
        "reactivex.case",
        lambda s: reactivex.case(lambda: 1, {1: s.ints()}),
        "pulls",
    ),
    _c(
        "reactivex.catch",
        lambda s: reactivex.catch(s.ints(500).pipe(ops.map(_failing_every(400))), s.ints(None, 2)),
        "pulls",
    ),
    _c(
        "reactivex.catch_with_iterable",
        lambda s: reactivex.catch_with_iterable(
            [s.ints(500).pipe(ops.map(_failing_every(400))), s.ints(None, 2)]
        ),
        "pulls",
    ),
    _c(
        "reactivex.cold",
        lambda s: reactivex.cold("1-2-3|"),
        "n/a",
        "a test fixture on a virtual clock: three items",
        tick=1.0,
    ),
    _c(
        "reactivex.combine_latest",
        lambda s: reactivex.combine_latest(s.ints(), s.ints(None, 2)),
        "pulls",
    ),
    _c(
        "reactivex.compose",
        None,
        "n/a",
        "composes operators into one; not an Observable (a chain of them is classified above)",
    ),
    _c("reactivex.concat", lambda s: reactivex.concat(s.ints(1500), s.ints(1500, 2)), "pulls"),
    _c(
        "reactivex.concat_with_iterable",
        lambda s: reactivex.concat_with_iterable([s.ints(1500), s.ints(1500, 2)]),
        "pulls",
    ),
    _c("reactivex.create", lambda s: _push_loop(s, 10**5), "push", _PUSHES),
    _c("reactivex.defer", lambda s: reactivex.defer(lambda _: s.ints()), "pulls"),
    _c("reactivex.empty", lambda s: reactivex.empty(), "n/a", _ONE),
    _c(
        "reactivex.for_in",
        lambda s: reactivex.for_in([1, 2], lambda v: s.ints(1500, v)),
        "pulls",
    ),
    _c(
        "reactivex.fork_join",
        lambda s: reactivex.fork_join(s.ints(_FINITE), s.ints(_FINITE, 2)),
        "n/a",
        _REDUCER,
    ),
    _c(
        "reactivex.from_",
        lambda s: reactivex.from_(s.pushed(None)),
        "push",
        _PUSHES + "; use rxrand.from_iterable",
    ),
    _c(
        "reactivex.from_callable",
        lambda s: reactivex.from_callable(lambda: 1),
        "n/a",
        _ONE,
    ),
    _c(
        "reactivex.from_callback",
        lambda s: reactivex.from_callback(lambda v, callback: callback(v))(1),
        "n/a",
        _ONE,
    ),
    _c("reactivex.from_future", lambda s: reactivex.from_future(_done_future(1)), "n/a", _ONE),
    _c(
        "reactivex.from_iterable",
        lambda s: reactivex.from_iterable(s.pushed(None)),
        "push",
        _PUSHES + "; use rxrand.from_iterable",
    ),
    _c(
        "reactivex.from_list",
        lambda s: reactivex.from_list(list(range(10**5))),
        "push",
        _PUSHES + "; use rxrand.from_iterable",
    ),
    _c(
        "reactivex.from_marbles",
        lambda s: reactivex.from_marbles("1-2-3|"),
        "n/a",
        "a test fixture on a virtual clock: three items",
        tick=1.0,
    ),
    _c(
        "reactivex.generate",
        lambda s: reactivex.generate(0, lambda _: True, lambda x: x + 1),
        "push",
        _PUSHES + "; use rxrand.from_iterable(itertools.count())",
    ),
    _c(
        "reactivex.generate_with_relative_time",
        lambda s: reactivex.generate_with_relative_time(
            0, lambda _: True, lambda x: x + 1, lambda _: 0.1
        ),
        "push",
        "a time source: " + _PUSHES,
        tick=10.0,
    ),
    _c(
        "reactivex.hot",
        lambda s: reactivex.hot("--1-2-3|", scheduler=s.clock),
        "n/a",
        "a test fixture on a virtual clock: three items",
        tick=1.0,
    ),
    _c(
        "reactivex.if_then",
        lambda s: reactivex.if_then(lambda: True, s.ints()),
        "pulls",
    ),
    _c(
        "reactivex.interval",
        lambda s: reactivex.interval(0.1),
        "push",
        "a time source: " + _PUSHES,
        tick=10.0,
    ),
    _c("reactivex.just", lambda s: reactivex.just(1), "n/a", _ONE),
    _c("reactivex.merge", lambda s: reactivex.merge(s.ints(), s.ints(None, 2)), "pulls"),
    _c("reactivex.never", lambda s: reactivex.never(), "n/a", "emits nothing"),
    _c(
        "reactivex.of",
        lambda s: reactivex.of(*range(10**5)),
        "push",
        _PUSHES + "; use rxrand.from_iterable",
    ),
    _c(
        "reactivex.on_error_resume_next",
        lambda s: reactivex.on_error_resume_next(s.ints(1500), s.ints(None, 2)),
        "pulls",
    ),
    _c(
        "reactivex.range",
        lambda s: reactivex.range(10**6),
        "push",
        _PUSHES + "; use rxrand.from_iterable(range(n))",
    ),
    _c(
        "reactivex.repeat_value",
        lambda s: reactivex.repeat_value(1),
        "push",
        _PUSHES + "; use rxrand.from_iterable(itertools.repeat(v))",
    ),
    _c(
        "reactivex.pipe",
        None,
        "n/a",
        "composes operators into one; not an Observable (a chain of them is classified above)",
    ),
    _c("reactivex.return_value", lambda s: reactivex.return_value(1), "n/a", _ONE),
    _c(
        "reactivex.start",
        lambda s: reactivex.start(lambda: 1, s.clock),
        "n/a",
        _ONE,
        tick=1.0,
    ),
    _c(
        "reactivex.start_async",
        lambda s: reactivex.start_async(lambda: _done_future(1)),
        "n/a",
        _ONE,
    ),
    _c(
        "reactivex.throw",
        lambda s: reactivex.throw(RuntimeError("boom")),
        "n/a",
        "an error, no item",
        errors=(RuntimeError,),
    ),
    _c(
        "reactivex.timer",
        lambda s: reactivex.timer(0.0, 0.1),
        "push",
        "a periodic time source: " + _PUSHES,
        tick=10.0,
    ),
    _c(
        "reactivex.to_async",
        lambda s: reactivex.to_async(lambda: 1, s.clock)(),
        "n/a",
        _ONE,
        tick=1.0,
    ),
    _c(
        "reactivex.using",
        lambda s: reactivex.using(Disposable, lambda _: s.ints()),
        "pulls",
    ),
    _c(
        "reactivex.with_latest_from",
        lambda s: reactivex.with_latest_from(s.ints(), s.ints(None, 2)),
        "pulls",
        "two source items per tuple",
        ratio=2,
    ),
    _c(
        "reactivex.zip",
        lambda s: reactivex.zip(s.ints(), s.ints(None, 2)),
        "pulls",
        "two source items per tuple",
        ratio=2,
    ),
    _c(
        "reactivex.zip_latest",
        lambda s: reactivex.zip_latest(s.ints(), s.ints(None, 2)),
        "breaks",
        _LATEST,
    ),
]

CASES_LIST += [
    # -- rxrand's own, for comparison (not in the installed-operator list) -------------------
    _c(
        "rxrand.controlled",
        lambda s: s.ints().pipe(controlled(), ops.map(abs)),
        "pulls",
        "nested: the outer credit becomes the inner demand",
    ),
    _c(
        "rxrand.from_iterable",
        lambda s: rxrand.from_iterable(s.counting(itertools.count())),
        "pulls",
        "reads the iterable only against demand",
    ),
    _c(
        "rxrand.observe_on",
        lambda s: s.ints().pipe(rxrand.observe_on(POOL)),
        "prefetch",
        "a thread hop with its own prefetch (128)",
        bound=128,
        wait=1.0,
    ),
    _c(
        "rxrand.share",
        lambda s: s.ints().pipe(rxrand.share()),
        "pulls",
        "one subscriber here; several are served at the pace of the slowest",
    ),
    _c(
        "rxrand.subscribe_on",
        lambda s: s.ints().pipe(rxrand.subscribe_on(NewThreadScheduler())),
        "pulls",
        "subscribes on another thread and keeps the demand channel",
        wait=1.0,
    ),
]

CASES: dict[str, Case] = {case.key: case for case in CASES_LIST}

#: Cases that take more than ~0.1 s (threads, many inner sources, many clock ticks): measured
#: with the slow tests only. The others are measured in the default run, without property F.
SLOW: frozenset[str] = frozenset(
    {
        "ops.buffer",
        "ops.buffer_toggle",
        "ops.buffer_when",
        "ops.buffer_with_count",
        "ops.buffer_with_time",
        "ops.buffer_with_time_or_count",
        "ops.concat_all",
        "ops.concat_map",
        "ops.delay_subscription",
        "ops.delay_with_mapper",
        "ops.expand",
        "ops.flat_map_latest",
        "ops.group_join",
        "ops.join",
        "ops.observe_on",
        "ops.subscribe_on",
        "ops.switch_latest",
        "ops.switch_map",
        "ops.switch_map_indexed",
        "ops.throttle_with_mapper",
        "ops.timeout",
        "ops.window_toggle",
        "ops.zip_latest",
        "reactivex.zip_latest",
        "rxrand.observe_on",
        "rxrand.subscribe_on",
    }
)

#: The composition matrix's rows (tests/composition.py), each as the table keys it is made of.
COMPOSITION_ROWS: dict[str, list[str]] = {
    "map, filter, scan, skip, distinct_until_changed": [
        "ops.map",
        "ops.filter",
        "ops.scan",
        "ops.skip",
        "ops.distinct_until_changed",
    ],
    "take(3000) of an endless stream": ["ops.take"],
    "take_while, default_if_empty, do_action": [
        "ops.take_while",
        "ops.default_if_empty",
        "ops.do_action",
    ],
    "concat of 3 finite (1500 each)": ["reactivex.concat"],
    "merge of 3 endless": ["reactivex.merge"],
    "zip of 2 endless": ["reactivex.zip"],
    "zip with never()": ["reactivex.zip", "reactivex.never"],
    "combine_latest of 2 endless": ["reactivex.combine_latest"],
    "nested controlled()": ["rxrand.controlled", "ops.map"],
    "flat_map to random_integers(2)": ["ops.flat_map"],
    "concat_map to random_integers(3)": ["ops.concat_map"],
    "buffer_with_count(10)": ["ops.buffer_with_count"],
    "window_with_count(10) + flat_map": ["ops.window_with_count", "ops.flat_map"],
    "group_by(v % 3) + flat_map": ["ops.group_by", "ops.flat_map"],
    "repeat() of random_integers(100)": ["ops.repeat"],
    "retry() after a failure every 1500 items": ["ops.map", "ops.retry"],
    "catch() switching to another source": ["ops.map", "ops.catch"],
    "reduce families: to_list of 100": ["ops.to_list"],
    "rxrand.from_iterable(itertools.count())": ["rxrand.from_iterable"],
    "rxrand.from_iterable(a generator)": ["rxrand.from_iterable"],
    "rxrand.observe_on(ThreadPoolScheduler)": ["rxrand.observe_on"],
    "rxrand.subscribe_on(NewThreadScheduler)": ["rxrand.subscribe_on"],
    "ops.observe_on(ThreadPoolScheduler)": ["ops.observe_on"],
    "ops.delay(0.01)": ["ops.delay"],
    "ops.subscribe_on(NewThreadScheduler)": ["ops.subscribe_on"],
    "reactivex.from_iterable(itertools.count())": ["reactivex.from_iterable"],
    "reactivex.range(10**6)": ["reactivex.range"],
}


def markdown() -> str:
    """The table of expected classes, as checked by ``tests/ops/test_operator_table.py``."""
    lines = [
        "| operator | class | ahead at most | note |",
        "|---|---|---:|---|",
    ]
    for case in CASES_LIST:
        bound = str(case.bound) if case.expected == "prefetch" else ""
        note = case.note.replace("|", "\\|")
        lines.append(f"| `{case.key}` | {case.expected} | {bound} | {note} |")
    return "\n".join(lines)


def counts() -> dict[Class, int]:
    """How many entries of the table are in each class."""
    return {cls: sum(case.expected == cls for case in CASES_LIST) for cls in CLASSES}


PAGE_HEAD = """\
# Backpressure of every reactivex operator

Each public operator of `reactivex.operators` and each creation function of `reactivex`
(reactivex {version}: {operators} operators, {creations} creation functions), put between a pull
source (`random_integers()`, `rxrand.from_iterable(...)`) and `controlled()`, and measured
under `request(5)`, then `request(1000)` twice, then `cancel()`. This page is generated by
`python -m tests.operators --write`, and `tests/ops/test_operator_table.py` measures every entry
again and fails when one changes class, when an installed operator has no entry, or when this
page is out of date.

## The classes

- **pulls**: demand reaches the source through the operator; the source generates at most the
  demand (times the operator's ratio, e.g. 10 for `buffer_with_count(10)`) plus one chunk, and
  runs at most 64 items ahead of delivery.
- **prefetch**: pulls, but runs further ahead: at most the number in the *ahead at most* column
  (items held by the operator: a thread hop, a clock, a queue).
- **push**: the operator or source ignores demand; `controlled()` buffers `capacity` (1024)
  items beyond the demand, then ends the stream with `BufferOverflowError` and stops the source.
  The note says what to use instead.
- **n/a**: nothing to pace: the stream ends within the first `request(5)` (a reducer such as
  `count` or `to_list`, which needs its whole finite input for one item and completes under
  `request(1)`; a single value), or emits nothing (`never()`).
- **breaks**: a property fails (a stall, an over-generation); the note says why and whether
  it is fixed or what to use instead.

## How it is measured

For each entry the survey checks the composition matrix's properties: `subscribe()` returns
within 2 s; at most 5 items after `request(5)` and no error other than `BufferOverflowError`;
generation within demand x ratio + one chunk per stream; exactly 2005 items after
`request(1000)` twice, or the end of the stream; generation stops after `cancel()`; and, in the
slow run, Python allocations under 16 MiB. *Ahead* is the most items the pull sources emitted
beyond what the delivered items account for. Time-based operators run on a virtual clock
(`reactivex.testing.TestScheduler`) given to `subscribe(..., scheduler=clock)`; after
`request(5)` the clock runs on for 20 ticks, so that a source that pushes on the clock shows it.

Give a scheduler to `subscribe()`, not to a time operator's `scheduler=` argument:
reactivex's time operators subscribe upstream with the scheduler they are given, which
replaces the demand channel, and the source then pushes.

Faults the survey found in rxrand, fixed, each with a test that failed before: reducers over a
finite source stalled under `request(1)` (the credit to a stage that swallows was capped at
demand + capacity); `on_error_resume_next` and `expand` lost the demand channel (a scheduled
action got the inner scheduler); `switch_map` and its kin never returned from
`request(2000)` (the outer source was asked before its inner sources).

Counts: {counts}.

## The table

"""


def page() -> str:
    """``docs/operators.md``: what the classes mean, how they are measured, and the table."""
    operators = sum(key.startswith("ops.") for key in installed())
    creations = len(installed()) - operators
    head = PAGE_HEAD.format(
        version=reactivex.__version__,
        operators=operators,
        creations=creations,
        counts=", ".join(f"{n} {cls}" for cls, n in counts().items()),
    )
    return head + markdown() + "\n"


if __name__ == "__main__":
    import sys

    if "--measure" in sys.argv:
        for case in CASES_LIST:
            started = time.perf_counter()
            m = measure(case)
            flag = "" if agrees(case, m) else "   <-- expected " + case.expected
            print(
                f"{case.key:40} {m.cls:9} {time.perf_counter() - started:5.2f}s "
                f"{m.figures} {m.problems}{flag}",
                flush=True,
            )
    elif "--write" in sys.argv:
        from pathlib import Path

        Path(__file__).parent.parent.joinpath("docs", "operators.md").write_text(page())
    else:
        print(page(), end="")
