"""Reactive Streams conformance tests (the JVM TCK's ``PublisherVerification``, in pytest)."""

import pytest

# The shared suite's asserts live outside test_*.py; have pytest explain them too.
pytest.register_assert_rewrite(f"{__name__}.verification")
