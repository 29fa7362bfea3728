"""The one place OS errors are translated."""

from __future__ import annotations

import errno

from rxrand import ConnectionLost
from rxrand.net.errors import connection_lost, out_of_resources, translate_os_error


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


def test_errors_connection_lost_names_what_failed() -> None:
    lost = connection_lost(OSError(errno.ENOTCONN, "not connected"), "shutdown failed")
    assert lost.reason == "shutdown failed: ENOTCONN: not connected"
    assert lost.errno == errno.ENOTCONN
    assert connection_lost(OSError("odd")).reason == "OSError: odd"


def test_errors_every_os_error_in_the_net_layer_goes_through_this_module() -> None:
    """An ``except OSError`` that builds its own reason is a second translator."""
    import ast
    import pathlib

    import rxrand.net

    # Translators, and the server's accept path, which asks out_of_resources in one method.
    allowed = {"translate_os_error", "connection_lost", "out_of_resources", "self._accept_failed"}
    offenders = []
    for path in pathlib.Path(rxrand.net.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for handler in ast.walk(tree):
            if not (isinstance(handler, ast.ExceptHandler) and handler.name):
                continue
            if handler.type is None or "OSError" not in ast.unparse(handler.type):
                continue
            names = {
                node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                for node in ast.walk(handler)
                if isinstance(node, ast.Call)
            }
            uses_error = any(
                isinstance(node, ast.Name) and node.id == handler.name for node in ast.walk(handler)
            )
            if uses_error and not names & allowed and "log" not in ast.unparse(handler):
                offenders.append(f"{path.name}:{handler.lineno}")
    assert offenders == []
