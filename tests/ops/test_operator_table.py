"""The operator table (``tests/operators.py``, ``docs/operators.md``) holds for this reactivex.

The default run measures every quick entry (without the memory property, which tracemalloc makes
slow); ``pytest -m slow`` measures every entry with all the properties.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import reactivex

from tests.composition import ROWS
from tests.operators import (
    CASES,
    CASES_LIST,
    COMPOSITION_ROWS,
    SLOW,
    agrees,
    installed,
    measure,
    page,
)

#: The reactivex the table (and docs/operators.md) was measured on: operators come and go
#: between releases (switch_map, tap and zip_latest are newer than 4.0), and some change class.
#: CI's run against the oldest allowed reactivex skips the table; every other run checks it.
TABLE_REACTIVEX = "6.1.1"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        reactivex.__version__ != TABLE_REACTIVEX,
        reason=f"the table is measured on reactivex {TABLE_REACTIVEX}: "
        "python -m tests.operators --write regenerates it for the installed one",
    ),
]

PAGE = Path(__file__).parent.parent.parent / "docs" / "operators.md"
QUICK = [case.key for case in CASES_LIST if case.key not in SLOW]


def test_operator_table_classifies_every_installed_operator() -> None:
    missing = [key for key in installed() if key not in CASES]
    assert not missing, (
        f"installed reactivex operators with no entry in tests/operators.py: {missing}"
    )


def test_operator_table_lists_only_installed_or_rxrand_operators() -> None:
    present = set(installed())
    stale = [key for key in CASES if key not in present and not key.startswith("rxrand.")]
    assert not stale, f"entries for operators reactivex no longer has: {stale}"


def test_operator_table_states_a_bound_for_each_prefetch() -> None:
    assert all(case.bound > 0 for case in CASES_LIST if case.expected == "prefetch")


def test_operator_table_page_is_up_to_date() -> None:
    assert PAGE.read_text() == page(), "run: python -m tests.operators --write"


def test_operator_table_holds_every_composition_row() -> None:
    assert set(COMPOSITION_ROWS) == {row.name for row in ROWS}
    for row in ROWS:
        keys = COMPOSITION_ROWS[row.name]
        assert keys, row.name
        assert all(key in CASES for key in keys), row.name
        pushes = any(CASES[key].expected == "push" for key in keys)
        assert pushes == (row.mode == "push"), row.name


@pytest.mark.parametrize("key", QUICK)
def test_operator_table_entry_measures_as_stated(key: str) -> None:
    case = CASES[key]
    measured = measure(case, memory=False)
    assert agrees(case, measured), (
        f"{key}: measured {measured.cls}, table says {case.expected} "
        f"({measured.problems}, {measured.figures})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CASES))
def test_operator_table_entry_measures_as_stated_with_memory(key: str) -> None:
    case = CASES[key]
    measured = measure(case)
    assert agrees(case, measured), (
        f"{key}: measured {measured.cls}, table says {case.expected} "
        f"({measured.problems}, {measured.figures})"
    )
