"""The composition matrix: what demand does under every operator family a user reaches for.

Each row is a chain put between a source and ``controlled()``; each column a property, measured
with hard timeouts (the issue's A-F):

A. ``subscribe()`` returns within 2 s;
B. after ``request(5)``: at most 5 delivered, and no error (push rows: at most a
   ``BufferOverflowError``, their documented behaviour);
C. generated at the sources <= demand + one chunk (8192) per source;
D. ``request(1000)`` twice delivers exactly 2000 more (or all of a finite stream);
E. after ``cancel()`` generation stops within 0.5 s, and no thread keeps a core busy;
F. memory bounded: the peak of Python allocations during the row stays under 16 MiB.

``python -m tests.composition`` prints the matrix as the table of docs/guide/composition.md;
``tests/ops/test_composition.py`` asserts every cell.
"""

from __future__ import annotations

import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import reactivex
import reactivex.operators as ops
from reactivex import Observable
from reactivex.scheduler import NewThreadScheduler, ThreadPoolScheduler

import rxrand
from rxrand import BufferOverflowError, controlled, random_integers
from rxrand.sources import CHUNK_SIZE
from rxrand.testing import RecordingSubscriber

Mode = Literal["pull", "push"]

MEMORY_LIMIT = 16 << 20
POOL = ThreadPoolScheduler(2)


@dataclass
class Sources:
    """The row's sources, and how much they generated."""

    integers: list[rxrand.sources.RandomIntegers] = field(default_factory=list)
    counted: list[list[int]] = field(default_factory=list)

    def ints(self, count: int | None = None, seed: int = 1) -> rxrand.sources.RandomIntegers:
        source = random_integers(count, seed=seed)
        self.integers.append(source)
        return source

    def counting(self, iterator: Iterator[int]) -> Iterator[int]:
        tally = [0]
        self.counted.append(tally)

        def generate() -> Iterator[int]:
            for value in iterator:
                tally[0] += 1
                yield value

        return generate()

    @property
    def generated(self) -> int:
        return sum(s.generated for s in self.integers) + sum(t[0] for t in self.counted)

    @property
    def allowance(self) -> int:
        """One chunk per stream opened (a chunk of a finite count is at most the count)."""
        chunks = sum(
            s.streams * min(CHUNK_SIZE, CHUNK_SIZE if s.length is None else s.length)
            for s in self.integers
        )
        return chunks + CHUNK_SIZE * len(self.counted)


@dataclass(frozen=True)
class Row:
    name: str
    build: Callable[[Sources], Observable[Any]]
    mode: Mode = "pull"
    #: Items in the whole stream, when finite.
    total: int | None = None
    #: Whether the stream completes once ``total`` items are out.
    completes: bool = True
    #: Source items per delivered item (buffer_with_count(10): 10).
    ratio: int = 1
    note: str = ""


def _fail_at(limit: int) -> Callable[[int], int]:
    seen = [0]

    def check(value: int) -> int:
        seen[0] += 1
        if seen[0] % limit == 0:
            raise RuntimeError("transient")
        return value

    return check


def concat_map(
    mapper: Callable[[Any], Observable[Any]],
) -> Callable[[Observable[Any]], Observable[Any]]:
    """``ops.concat_map``, which reactivex 4.0 lacks: a map, then one inner at a time."""
    native = getattr(ops, "concat_map", None)
    if native is not None:
        return native(mapper)  # type: ignore[no-any-return]
    return lambda source: source.pipe(ops.map(mapper), ops.merge(max_concurrent=1))


def _flat(window: Observable[Any]) -> Observable[Any]:
    return window


ROWS: list[Row] = [
    Row(
        "map, filter, scan, skip, distinct_until_changed",
        lambda s: s.ints().pipe(
            ops.map(lambda v: v * 2),
            ops.filter(lambda v: v % 3 != 0),
            ops.scan(lambda acc, v: acc + v, 0),
            ops.skip(3),
            ops.distinct_until_changed(),
        ),
    ),
    Row("take(3000) of an endless stream", lambda s: s.ints().pipe(ops.take(3000)), total=3000),
    Row(
        "take_while, default_if_empty, do_action",
        lambda s: s.ints().pipe(
            ops.take_while(lambda v: v >= 0),
            ops.default_if_empty(-1),
            ops.do_action(lambda _: None),
        ),
    ),
    Row(
        "concat of 3 finite (1500 each)",
        lambda s: reactivex.concat(s.ints(1500), s.ints(1500, 2), s.ints(1500, 3)),
        total=4500,
    ),
    Row(
        "merge of 3 endless", lambda s: reactivex.merge(s.ints(), s.ints(None, 2), s.ints(None, 3))
    ),
    Row("zip of 2 endless", lambda s: reactivex.zip(s.ints(), s.ints(None, 2))),
    Row(
        "zip with never()",
        lambda s: reactivex.zip(s.ints(), reactivex.never()),
        total=0,
        completes=False,
        note="nothing to deliver; the source parks at demand + prefetch",
    ),
    Row(
        "combine_latest of 2 endless", lambda s: reactivex.combine_latest(s.ints(), s.ints(None, 2))
    ),
    Row(
        "nested controlled()",
        lambda s: s.ints().pipe(controlled(), ops.map(lambda v: v + 1), controlled()),
    ),
    Row(
        "flat_map to random_integers(2)", lambda s: s.ints().pipe(ops.flat_map(lambda _: s.ints(2)))
    ),
    Row(
        "concat_map to random_integers(3)",
        lambda s: s.ints().pipe(concat_map(lambda _: s.ints(3))),
    ),
    Row(
        "buffer_with_count(10)",
        lambda s: s.ints().pipe(ops.buffer_with_count(10)),
        ratio=10,
    ),
    Row(
        "window_with_count(10) + flat_map",
        lambda s: s.ints().pipe(ops.window_with_count(10), ops.flat_map(_flat)),
    ),
    Row(
        "group_by(v % 3) + flat_map",
        lambda s: s.ints().pipe(ops.group_by(lambda v: v % 3), ops.flat_map(_flat)),
    ),
    Row("repeat() of random_integers(100)", lambda s: s.ints(100).pipe(ops.repeat())),
    Row(
        "retry() after a failure every 1500 items",
        lambda s: s.ints().pipe(ops.map(_fail_at(1500)), ops.retry()),
    ),
    Row(
        "catch() switching to another source",
        lambda s: s.ints(500).pipe(
            ops.map(_fail_at(400)), ops.catch(lambda _e, _src: s.ints(None, 2))
        ),
    ),
    Row(
        "reduce families: to_list of 100",
        lambda s: s.ints(100).pipe(ops.to_list()),
        total=1,
    ),
    Row(
        "rxrand.from_iterable(itertools.count())",
        lambda s: rxrand.from_iterable(s.counting(itertools.count())),
    ),
    Row(
        "rxrand.from_iterable(a generator)",
        lambda s: rxrand.from_iterable(s.counting(iter(range(10**9)))),
    ),
    Row(
        "rxrand.observe_on(ThreadPoolScheduler)",
        lambda s: s.ints().pipe(rxrand.observe_on(POOL)),
        note="prefetch 128 ahead",
    ),
    Row(
        "rxrand.subscribe_on(NewThreadScheduler)",
        lambda s: s.ints().pipe(rxrand.subscribe_on(NewThreadScheduler())),
    ),
    Row(
        "ops.observe_on(ThreadPoolScheduler)",
        lambda s: s.ints().pipe(ops.observe_on(POOL)),
        note="credit ahead of delivery bounded by the prefetch",
    ),
    Row(
        "ops.delay(0.01)",
        lambda s: s.ints().pipe(ops.delay(0.01)),
        note="credit ahead of delivery bounded by the prefetch",
    ),
    Row(
        "ops.subscribe_on(NewThreadScheduler)",
        lambda s: s.ints().pipe(ops.subscribe_on(NewThreadScheduler())),
        mode="push",
        note="channel lost: bounded buffer, then BufferOverflowError; the source stops",
    ),
    Row(
        "reactivex.from_iterable(itertools.count())",
        lambda s: reactivex.from_iterable(s.counting(itertools.count())),
        mode="push",
        note="pushes: bounded buffer, then BufferOverflowError; the loop stops",
    ),
    Row(
        "reactivex.range(10**6)",
        lambda s: reactivex.from_iterable(s.counting(iter(range(10**6)))),
        mode="push",
        note="pushes: bounded buffer, then BufferOverflowError; the loop stops",
    ),
]


@dataclass
class Result:
    row: Row
    cells: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, column: str, ok: bool, problem: str) -> None:
        self.cells[column] = self.cells.get(column, True) and ok
        if not ok:
            self.problems.append(f"{column}: {problem}")


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def _settle(probe: RecordingSubscriber[Any], target: int, timeout: float = 1.0) -> None:
    """Wait until ``target`` items arrived or a terminal signal, then a little more."""
    _wait(lambda: len(probe.values) >= target or probe.terminated, timeout)
    time.sleep(0.02)


def run_row(row: Row) -> Result:
    result = Result(row)
    sources = Sources()
    probe = RecordingSubscriber[Any]()
    publisher = row.build(sources).pipe(controlled())
    holder: list[Any] = []
    tracemalloc.start()
    try:
        # A: subscribe returns.
        done = threading.Event()

        def subscribe() -> None:
            holder.append(publisher.subscribe(probe))
            done.set()

        threading.Thread(target=subscribe, daemon=True, name=f"subscribe {row.name}").start()
        returned = done.wait(2.0)
        result.check("A", returned, "subscribe() did not return within 2 s")
        if not returned:
            return result
        allowed_errors: tuple[type[Exception], ...] = (
            (BufferOverflowError,) if row.mode == "push" else ()
        )

        # B: request(5).
        probe.request(5)
        _settle(probe, 5, timeout=0.5)
        delivered = len(probe.values)
        errors = probe.errors
        result.figures["after request(5)"] = delivered
        result.check("B", delivered <= 5, f"{delivered} delivered for request(5)")
        unexpected = [e for e in errors if not isinstance(e, allowed_errors)]
        result.check("B", not unexpected, f"errors {unexpected!r}")
        if row.mode == "pull":
            result.check("B", not errors, f"errors {errors!r}")

        # D: request(1000) twice.
        if not probe.terminated:
            probe.request(1000)
            probe.request(1000)
        expected = 2005 if row.total is None else min(row.total, 2005)
        if row.mode == "pull":
            _settle(probe, expected, timeout=3.0)
            got = len(probe.values)
            result.figures["after 2005 requested"] = got
            result.check("D", got == expected, f"{got} delivered, expected {expected}")
            if row.total is not None and row.total <= 2005 and row.completes:
                result.check("D", probe.completed, "a finite stream did not complete")
        else:
            result.figures["after 2005 requested"] = len(probe.values)
            result.figures["error"] = type(errors[0]).__name__ if errors else ""

        # C: generated at the sources.
        generated = sources.generated
        bound = 2005 * row.ratio + sources.allowance
        result.figures["generated"] = generated
        result.figures["emitted"] = holder[0].pulled
        if row.mode == "pull":
            result.check("C", generated <= bound, f"generated {generated} > {bound}")

        # E: cancel stops generation; no thread spins.
        probe.cancel()
        before = sources.generated

        def stable() -> bool:
            nonlocal before
            now = sources.generated
            time.sleep(0.1)
            steady = sources.generated == now
            before = now
            return steady

        result.check("E", _wait(stable, 0.5), "generation went on after cancel")
        cpu = time.process_time()
        wall = time.monotonic()
        time.sleep(0.2)
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
        result.figures["cpu after cancel"] = round(busy, 2)
        result.check("E", busy < 0.5, f"{busy:.0%} of a core busy after cancel")
        after = sources.generated
        result.check("E", after == before, f"generated {after - before} more after cancel")

        # F: memory.
        _, peak = tracemalloc.get_traced_memory()
        result.figures["peak MiB"] = round(peak / (1 << 20), 2)
        result.check("F", peak <= MEMORY_LIMIT, f"peak {peak / (1 << 20):.1f} MiB")
    finally:
        tracemalloc.stop()
    return result


def markdown(results: list[Result]) -> str:
    lines = [
        "| composition | demand | A | B | C | D | E | F | emitted | drawn | note |",
        "|---|---|---|---|---|---|---|---|---:|---:|---|",
    ]
    for result in results:
        row = result.row
        marks = []
        for column in "ABCDEF":
            if column not in result.cells:
                marks.append("n/a")
            else:
                marks.append("yes" if result.cells[column] else "**NO**")
        kind = "pulls through" if row.mode == "pull" else "push: buffered, then error"
        lines.append(
            f"| {row.name} | {kind} | {' | '.join(marks)} | "
            f"{result.figures.get('emitted', '')} | {result.figures.get('generated', '')} | "
            f"{row.note} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown([run_row(row) for row in ROWS]))
