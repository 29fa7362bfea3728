"""Tests of rxrand.ops, one module per module."""
