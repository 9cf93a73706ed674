"""Static checks of the Dockerfile, .dockerignore and compose.yaml (no container engine needed).

What they promise is also run for real by shared/tools/try-container (podman); these tests keep
the files from drifting between such runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from container.locks import ROOT, pyproject

# The benchmark's whole-run peak RSS at 10,000 leads (README, "Performance": 547 MB). When the
# benchmark moves, update this and, if needed, compose.yaml's mem_limit.
PEAK_RSS_10K_LEADS = 547 * 10**6

# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    result, buffer = [], ""
    for line in text.splitlines():
        if not buffer and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        buffer += line
        keyword, _, rest = " ".join(buffer.split()).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        buffer = ""
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(dockerfile()):
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


def test_two_stages_on_one_base_pinned_by_tag_and_digest() -> None:
    froms = [stage[0][1] for stage in stages()]
    assert len(froms) == 2
    pinned = re.compile(r"^python:3\.11-slim-[a-z]+@sha256:[0-9a-f]{64} AS (builder|runtime)$")
    assert all(pinned.match(line) for line in froms), froms
    assert froms[0].split()[0] == froms[1].split()[0]  # both stages on the same base build
    assert "docker inspect --format '{{index .RepoDigests 0}}'" in dockerfile()  # how to update
    digest = froms[0].split("@")[1].split()[0]
    assert f'org.opencontainers.image.base.digest="{digest}"' in dockerfile()  # and its label


def test_the_builder_installs_the_locked_wheels_with_hashes_and_the_project_without_deps() -> None:
    builder = " ".join(rest for keyword, rest in stages()[0] if keyword == "RUN")
    assert "--require-hashes --only-binary :all: -r /build/requirements/runtime.txt" in builder
    assert "--require-hashes --only-binary :all: -r /build/requirements/build.txt" in builder
    assert "install --no-deps --no-index /build/wheels/journey_sync-" in builder
    assert "venv --without-pip /opt/journey-sync" in builder


def test_the_runtime_stage_copies_only_the_virtualenv_and_runs_as_10001_in_group_0() -> None:
    runtime = stages()[1]
    copies = [rest for keyword, rest in runtime if keyword in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/journey-sync /opt/journey-sync"]
    assert [rest for keyword, rest in runtime if keyword == "USER"] == ["10001:0"]
    run = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "--uid 10001 --gid 0" in run and "chown 10001:0 /data" in run
    assert "chmod 0770 /data" in run  # any uid in group 0 can write the state
    assert '"$d"/pip ' in run and "ensurepip" in run  # pip removed from the image that runs


def test_oci_labels_name_version_source_and_licence() -> None:
    runtime = stages()[1]
    labels = " ".join(rest for keyword, rest in runtime if keyword == "LABEL")
    args = dict(rest.split("=", 1) for keyword, rest in runtime if keyword == "ARG" and "=" in rest)
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert args["VERSION"] == project["version"]
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.source="${SOURCE}"' in labels
    assert f'org.opencontainers.image.licenses="{project["license"]}"' in labels


def test_no_example_passes_a_secret_on_the_command_line() -> None:
    text = dockerfile()
    assert not re.search(r"(-e|--env)[ =]TODOIST_API_TOKEN=", text)
    assert "TODOIST_API_TOKEN_FILE=/run/secrets/todoist_token" in text


# --- .dockerignore ---------------------------------------------------------------------------


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def in_build_context(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path, or one of its parent folders,
    decides; `!` lets it in again."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [path for path in listed if (ROOT / path).exists()]


def test_dockerignore_is_an_allow_list_of_what_the_image_is_built_from() -> None:
    patterns = ignore_patterns()
    assert patterns[0] == "*"
    sent = {path for path in repository_files() if in_build_context(path, patterns)}
    expected = {"pyproject.toml", "README.md", "requirements/runtime.txt", "requirements/build.txt"}
    assert {path for path in sent if not path.startswith("src/journey_sync/")} == expected
    assert "src/journey_sync/cli.py" in sent and "src/journey_sync/py.typed" in sent
    for folder in ("tests/", "sandbox/", "bench/", "scripts/", "config/", "requirements/dev"):
        assert not any(path.startswith(folder) for path in sent), folder


@pytest.mark.parametrize(
    "path",
    [
        "src/journey_sync.egg-info/PKG-INFO",
        "src/journey_sync/__pycache__/cli.cpython-311.pyc",
        "src/journey_sync/local.env",
        "src/journey_sync/adapters/.env",
        "src/journey_sync/journey-sync.db",
        "src/journey_sync/secrets/google_key.json",
        "secrets/todoist_token",
        "journey-sync.db-wal",
        "Dockerfile",
        "tests/test_x.py",
        "sandbox/src/journey_sync_sandbox/server.py",
    ],
)
def test_build_leftovers_state_and_secrets_never_reach_the_build(path: str) -> None:
    assert not in_build_context(path, ignore_patterns())


def test_the_ignore_matcher_follows_the_last_matching_pattern() -> None:
    patterns = ["*", "!src/app/", "**/*.pyc"]
    assert in_build_context("src/app/x.py", patterns)
    assert not in_build_context("src/app/x.pyc", patterns)
    assert not in_build_context("src/other/x.py", patterns)
    assert not in_build_context("README.md", patterns)


# --- compose.yaml ----------------------------------------------------------------------------


def service() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert list(services) == ["journey-sync"]
    return dict(services["journey-sync"])


def megabytes(size: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)b?", str(size).lower())
    assert match, size
    number, unit = match.groups()
    return float(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit] / 10**6


def test_compose_root_is_read_only_with_no_capabilities_and_no_privilege_gain() -> None:
    svc = service()
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "cap_add" not in svc and "privileged" not in svc
    assert "no-new-privileges:true" in svc["security_opt"]
    assert svc["user"] == "10001:0"
    assert any(str(t).startswith("/tmp:") for t in svc["tmpfs"])  # the only writable path
    assert "state:/data" in svc["volumes"]


def test_compose_logs_rotate() -> None:
    logging = service()["logging"]
    assert logging["driver"] in ("json-file", "local")
    assert megabytes(logging["options"]["max-size"]) <= 100
    assert 1 <= int(logging["options"]["max-file"]) <= 10


def test_compose_memory_limit_has_headroom_over_the_benchmark_peak() -> None:
    svc = service()
    limit = megabytes(svc["mem_limit"]) * 10**6
    assert limit >= 1.5 * PEAK_RSS_10K_LEADS
    assert limit <= 4 * PEAK_RSS_10K_LEADS  # a limit, not a formality
    assert svc["memswap_limit"] == svc["mem_limit"]  # no swap beyond it


def test_compose_restart_policy_gives_up_on_a_set_up_error() -> None:
    restart = service()["restart"]
    assert re.fullmatch(r"on-failure:\d+", restart), restart  # never always / unless-stopped
    assert 1 <= int(restart.split(":")[1]) <= 10


def test_compose_secrets_are_files_not_environment_values() -> None:
    svc = service()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env = svc["environment"]
    assert "TODOIST_API_TOKEN" not in env
    assert env["TODOIST_API_TOKEN_FILE"] == "/run/secrets/todoist_token"
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/secrets/google_key.json"
    targets = {s["target"] for s in svc["secrets"]}
    assert targets == {"todoist_token", "google_key.json"}
    files = {s["file"] for s in compose["secrets"].values()}
    assert files == {"./secrets/todoist_token", "./secrets/google_key.json"}
    assert {s["source"] for s in svc["secrets"]} == set(compose["secrets"])


def test_compose_keeps_state_on_a_volume_and_lets_a_stop_finish() -> None:
    svc = service()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "state:/data" in svc["volumes"] and "state" in compose["volumes"]
    grace = int(str(svc["stop_grace_period"]).rstrip("s"))
    assert grace > float(svc["environment"]["JOURNEY_SYNC_SHUTDOWN_TIMEOUT"])


def test_readme_container_section_matches_compose() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## The container")
    section = readme[start : readme.find("\n## ", start + 1)]
    svc = service()
    for fact in (
        f"restart: {svc['restart']}",
        f"mem_limit: {svc['mem_limit']}",
        "read_only: true",
        "cap_drop: [ALL]",
        "no-new-privileges:true",
        f"max-size: {svc['logging']['options']['max-size']}",
        "sudo chown 10001:0 secrets/todoist_token secrets/google_key.json",
        "sudo chmod 600 secrets/todoist_token secrets/google_key.json",
    ):
        assert fact in section, fact
    assert "chmod 644" not in readme


def test_the_runtime_stage_runs_journey_sync_run_with_state_on_a_volume() -> None:
    runtime = stages()[1]
    keywords = [keyword for keyword, _ in runtime]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    by_keyword: dict[str, list[str]] = {}
    for keyword, rest in runtime:
        by_keyword.setdefault(keyword, []).append(rest)
    assert json.loads(by_keyword["VOLUME"][-1]) == ["/data"]
    env = " ".join(by_keyword["ENV"])
    assert "PATH=/opt/journey-sync/bin:$PATH" in env
    assert "JOURNEY_SYNC_STATE=/data/" in env
    assert "JOURNEY_SYNC_WORKFLOWS=/config/workflows.yaml" in env
    assert "JOURNEY_SYNC_HEALTH_HOST=0.0.0.0" in env
    assert "TODOIST_API_TOKEN=" not in env  # nothing secret is baked into the image
    options, _, command = by_keyword["HEALTHCHECK"][-1].partition("CMD ")
    assert json.loads(command) == ["journey-sync", "health"]
    assert "--interval=" in options and "--start-period=" in options
    entrypoint = json.loads(by_keyword["ENTRYPOINT"][-1]) + json.loads(by_keyword["CMD"][-1])
    assert entrypoint == ["journey-sync", "run"]
