"""Tests of rxrand.core, one module per module."""
