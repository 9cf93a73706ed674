# journey-sync: the sync service in a container. compose.yaml beside this file is how it runs
# in production (read-only root, no capabilities, log rotation, a memory limit, secrets as
# files); the same by hand:
#
#   docker build -t journey-sync .
#   docker run -d --name journey-sync --read-only --tmpfs /tmp --cap-drop ALL \
#     --security-opt no-new-privileges:true --memory 1g --restart on-failure:5 \
#     -v journey-sync-state:/data \
#     -v "$PWD/workflows.yaml:/config/workflows.yaml:ro" \
#     -v "$PWD/secrets/todoist_token:/run/secrets/todoist_token:ro" \
#     -v "$PWD/secrets/google_key.json:/run/secrets/google_key.json:ro" \
#     -e TODOIST_API_TOKEN_FILE=/run/secrets/todoist_token \
#     journey-sync
#
# Secrets are files (owned by uid 10001, mode 600: the README shows the commands), never `-e`
# values: an environment variable's value is shown by `docker inspect` to anyone who may run
# docker. `docker run ... journey-sync doctor` checks the set-up against the live services.
#
# Two stages. The builder installs the locked wheels (requirements/runtime.txt, every file
# checked against its sha256; scripts/lock updates the lock) and journey-sync's own wheel into
# a virtualenv; the runtime stage copies only that virtualenv. No pip, no build tools, no
# sources, no tests and no sandbox in the image that runs.
#
# The base image is pinned by tag (to read) and digest (to be exact: the tag moves with every
# rebuild of the base). To move to a newer build of the same Python and Debian release:
#   docker pull python:3.11-slim-bookworm
#   docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim-bookworm
#     (or: docker buildx imagetools inspect python:3.11-slim-bookworm)
# then put the new digest in both FROM lines and the base.digest label below (tests/container
# checks that the three agree), build the image and try it (the README's "The container" says
# how it was tried) before committing.

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# The build back-end (pyproject's [build-system] requires, locked in requirements/build.txt),
# in a virtualenv of its own that stays in this stage.
COPY requirements/build.txt requirements/runtime.txt /build/requirements/
RUN python3 -m venv /build/tools \
    && /build/tools/bin/pip install --require-hashes --only-binary :all: \
       -r /build/requirements/build.txt

# The service's virtualenv, made without pip: pip runs from the tools venv (--python). The
# locked runtime set, wheels only (nothing is compiled, so no compiler is needed), with hashes.
RUN python3 -m venv --without-pip /opt/journey-sync \
    && /build/tools/bin/pip --python /opt/journey-sync/bin/python install \
       --require-hashes --only-binary :all: -r /build/requirements/runtime.txt

# journey-sync itself: its wheel, built with the locked back-end, installed with --no-deps
# (everything it needs is already there, at the locked versions).
COPY pyproject.toml README.md /build/project/
COPY src/ /build/project/src/
RUN /build/tools/bin/pip wheel --no-deps --no-build-isolation -w /build/wheels /build/project \
    && /build/tools/bin/pip --python /opt/journey-sync/bin/python install --no-deps --no-index \
       /build/wheels/journey_sync-*.whl \
    && /opt/journey-sync/bin/python -c "import journey_sync.cli"


FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS runtime

# OCI labels. VERSION is pyproject.toml's version (tests/container checks it); SOURCE is the
# repository's address: docker build --build-arg SOURCE="$(git remote get-url origin)" .
ARG VERSION=0.1.0
ARG SOURCE=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="journey-sync" \
      org.opencontainers.image.description="Tracks every client's journey: a Google Sheet of leads synced with Todoist tasks." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm" \
      org.opencontainers.image.base.digest="sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91"

# No pip (nor setuptools, wheel, ensurepip and their wheels) in the image that runs: nothing can
# be installed into a running container. Then the user: a fixed uid (10001) in group 0, and a
# /data owned by both, so the image also runs as any other uid in group 0 (OpenShift's
# arbitrary uids). A new named volume on /data starts out as this folder is.
RUN set -eu; \
    for d in $(python3 -c 'import site, sysconfig; print(*{*site.getsitepackages(), sysconfig.get_path("stdlib")})'); do \
      rm -rf "$d"/pip "$d"/pip-* "$d"/setuptools "$d"/setuptools-* "$d"/wheel "$d"/wheel-* \
             "$d"/pkg_resources "$d"/_distutils_hack "$d"/distutils-precedence.pth "$d"/ensurepip; \
    done; \
    rm -rf /usr/local/bin/pip* /usr/bin/pip* /usr/local/bin/wheel /usr/share/python-wheels; \
    if python3 -c 'import pip' 2>/dev/null; then echo 'pip is still importable' >&2; exit 1; fi; \
    useradd --system --uid 10001 --gid 0 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin journey; \
    mkdir -p /data /config; \
    chown 10001:0 /data; \
    chmod 0770 /data

COPY --from=builder /opt/journey-sync /opt/journey-sync

# Secrets come from files (Docker secrets) or the environment, never from the image:
#   TODOIST_API_TOKEN_FILE=/run/secrets/todoist_token (or TODOIST_API_TOKEN)
#   GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/google_key.json
ENV PATH=/opt/journey-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JOURNEY_SYNC_STATE=/data/journey-sync.db \
    JOURNEY_SYNC_WORKFLOWS=/config/workflows.yaml \
    GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/google_key.json \
    JOURNEY_SYNC_HEALTH_HOST=0.0.0.0 \
    JOURNEY_SYNC_HEALTH_PORT=8080

VOLUME ["/data"]
EXPOSE 8080
USER 10001:0
WORKDIR /data

# Healthy while every workflow's last good cycle is younger than three intervals; the
# start period covers the first cycle of a large sheet.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["journey-sync", "health"]

# journey-sync handles SIGTERM itself (the cycle in flight finishes its request, then exit
# 0 within JOURNEY_SYNC_SHUTDOWN_TIMEOUT, 8 s by default: inside Docker's 10 s grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["journey-sync"]
CMD ["run"]
