"""Tests of rxrand.cli, one module per module."""
