"""Reading the lock files in requirements/ and checking them against pyproject.toml.

A lock is a pip requirements file written by `scripts/lock` (uv pip compile --generate-hashes):
one `name==version [; marker]` per package, each followed by its `--hash=sha256:...` lines.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"

_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: Version
    marker: str | None
    hashes: tuple[str, ...]


def _logical_lines(text: str) -> Iterable[str]:
    """Joins backslash-continued lines and drops comments and blank lines."""
    buffer = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            yield buffer.strip()
        buffer = ""
    if buffer.strip():
        yield buffer.strip()


def parse_lock(text: str) -> dict[str, Pin]:
    """The pins of a lock, by canonical name. Anything that is not an exact pin is an error."""
    pins: dict[str, Pin] = {}
    for line in _logical_lines(text):
        if line.startswith("--index-url") or line.startswith("--extra-index-url"):
            continue
        if line.startswith("-"):
            raise ValueError(f"unexpected option in a lock: {line!r}")
        spec = line.split(" --hash=", 1)[0].strip()
        requirement = Requirement(spec)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"not an exact pin: {spec!r}")
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise ValueError(f"{name} is pinned twice")
        pins[name] = Pin(
            name=name,
            version=Version(specifiers[0].version),
            marker=str(requirement.marker) if requirement.marker else None,
            hashes=tuple(_HASH.findall(line)),
        )
    return pins


def read_lock(name: str) -> dict[str, Pin]:
    return parse_lock((REQUIREMENTS / name).read_text())


def unsatisfied(requirements: Iterable[str], pins: dict[str, Pin]) -> list[str]:
    """What in `requirements` (PEP 508 strings, e.g. pyproject's) the pins do not satisfy."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement.name}: required ({text}) but not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement.name}: locked at {pin.version}, outside {text}")
    return problems


def pyproject(path: Path = ROOT / "pyproject.toml") -> dict[str, object]:
    with path.open("rb") as file:
        return tomllib.load(file)


def runtime_requirements(path: Path = ROOT / "pyproject.toml") -> list[str]:
    project = pyproject(path)["project"]
    assert isinstance(project, dict)
    return list(project.get("dependencies", []))


def dev_requirements() -> list[str]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    needed = list(project.get("dependencies", []))
    needed += project.get("optional-dependencies", {}).get("dev", [])
    sandbox = ROOT / "sandbox" / "pyproject.toml"
    if sandbox.exists():
        local = {canonicalize_name(str(project["name"]))}
        needed += [
            r
            for r in runtime_requirements(sandbox)
            if canonicalize_name(Requirement(r).name) not in local
        ]
    return needed


def build_requirements() -> list[str]:
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    return list(build_system["requires"])
