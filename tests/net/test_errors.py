"""The one place OS errors are translated."""

from __future__ import annotations

import errno

from rxrand import ConnectionLost
from rxrand.net.errors import out_of_resources, translate_os_error


def test_errors_would_block_means_retry() -> None:
    assert translate_os_error(BlockingIOError(errno.EAGAIN, "again")) is None
    assert translate_os_error(InterruptedError(errno.EINTR, "interrupted")) is None


def test_errors_reset_and_broken_pipe_mean_connection_lost() -> None:
    for code in (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT):
        lost = translate_os_error(OSError(code, "gone"))
        assert isinstance(lost, ConnectionLost)
        assert lost.errno == code
        assert lost.reason == f"{errno.errorcode[code]}: gone"


def test_errors_out_of_descriptors_is_recognised() -> None:
    assert out_of_resources(OSError(errno.EMFILE, "too many open files"))
    assert not out_of_resources(OSError(errno.ECONNABORTED, "aborted"))
