"""Fixtures for the daemon's tests."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``configure_logging`` changes process-wide state: put it back after each test."""
    handlers = list(logging.getLogger().handlers)
    level = logging.getLogger().level
    hooks = (sys.excepthook, threading.excepthook)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
