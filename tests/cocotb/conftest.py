"""Session summary of the cocotb runs (the hook lives in ``coverage_report``)."""

from __future__ import annotations

from .coverage_report import pytest_terminal_summary

__all__ = ["pytest_terminal_summary"]
