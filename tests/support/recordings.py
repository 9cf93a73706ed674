"""The one place that says where the recorded API traffic lives (inside the repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Real recorded Sheets traffic and Todoist's documented examples; see ``SOURCES.md`` there.
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def recording(name: str) -> Any:
    """One recording, parsed from JSON."""
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
