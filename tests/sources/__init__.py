"""Tests of rxrand.sources, one module per module."""
