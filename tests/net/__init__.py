"""Tests of rxrand.net, one module per module."""
