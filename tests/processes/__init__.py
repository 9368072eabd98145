"""Tests that run real server processes."""
