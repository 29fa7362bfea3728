"""The demand arithmetic, on its own: saturation (rule 3.17) and request checks (rule 3.9)."""

from __future__ import annotations

import pytest

from rxrand import UNBOUNDED
from rxrand.core.demand import COMPLETE, DrainInbox, add_demand, check_request


def test_demand_adds_up() -> None:
    assert add_demand(0, 3) == 3
    assert add_demand(3, 4) == 7


def test_demand_saturates_at_2_63_minus_1() -> None:
    assert UNBOUNDED == 2**63 - 1
    assert add_demand(UNBOUNDED - 1, 1) == UNBOUNDED
    assert add_demand(UNBOUNDED, UNBOUNDED) == UNBOUNDED
    assert add_demand(5, 2**80) == UNBOUNDED


def test_demand_check_accepts_positive_ints() -> None:
    assert check_request(1) is None
    assert check_request(2**70) is None


@pytest.mark.parametrize(
    ("n", "kind", "message"),
    [
        (0, ValueError, "request(n) needs n > 0 (rule 3.9), got 0"),
        (-5, ValueError, "request(n) needs n > 0 (rule 3.9), got -5"),
        (True, TypeError, "request(n) takes an int, got bool"),
        ("3", TypeError, "request(n) takes an int, got str"),
    ],
)
def test_demand_check_returns_the_error_to_signal(
    n: object, kind: type[Exception], message: str
) -> None:
    error = check_request(n)
    assert isinstance(error, kind)
    assert str(error) == message


def test_inbox_terminate_keeps_the_first_end_recorded() -> None:
    inbox = DrainInbox()
    error = RuntimeError("first")
    with inbox.lock:
        assert inbox.terminate_locked(error)
        assert not inbox.terminate_locked(COMPLETE)
    assert inbox.terminal is error
    assert inbox.closed


def test_inbox_fail_replaces_a_completion_not_yet_signalled_but_not_an_error() -> None:
    inbox = DrainInbox()
    failure = ValueError("the subscriber raised")
    with inbox.lock:
        inbox.terminate_locked(COMPLETE)
        inbox.fail_locked(failure)
        assert inbox.terminal is failure
        inbox.fail_locked(ValueError("later"))
    assert inbox.terminal is failure


def test_inbox_closed_once_cancelled() -> None:
    inbox = DrainInbox()
    assert not inbox.closed
    inbox.cancel()
    assert inbox.closed
    assert inbox.terminal is None
