"""Helpers the tests share: recordings, fake gateways, a world of sheet + Todoist + engine.

``pytest`` puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests
import these as ``from support.world import World`` rather than from a ``conftest``.
"""
