# journey-sync: the sync service in a container.
#
#   docker build -t journey-sync .
#   docker run -d -v journey-sync-state:/data \
#     -v "$PWD/workflows.yaml:/config/workflows.yaml:ro" \
#     -v "$PWD/secrets/google_key.json:/run/secrets/google_key.json:ro" \
#     -e TODOIST_API_TOKEN=... journey-sync
#
# compose.yaml beside this file does the same with the secrets mounted as files.
# `docker run ... journey-sync doctor` checks the set-up against the live services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from: the tests, benchmarks and scripts stay out (and
# .dockerignore keeps them out of the build context as well).
COPY pyproject.toml README.md /build/
COPY src/ /build/src/
RUN pip install --no-cache-dir /build && rm -rf /build

# A fixed numeric uid, so that runAsNonRoot-style checks can verify it and the state
# volume's owner is predictable. /data is created here, owned by that user, so a new named
# volume starts out writable by it.
RUN groupadd --system --gid 10001 journey \
    && useradd --system --uid 10001 --gid journey --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin journey \
    && mkdir -p /data /config \
    && chown journey:journey /data

# Secrets come from files (Docker secrets) or the environment, never from the image:
#   TODOIST_API_TOKEN_FILE=/run/secrets/todoist_token (or TODOIST_API_TOKEN)
#   GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/google_key.json
ENV JOURNEY_SYNC_STATE=/data/journey-sync.db \
    JOURNEY_SYNC_WORKFLOWS=/config/workflows.yaml \
    GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/google_key.json \
    JOURNEY_SYNC_HEALTH_HOST=0.0.0.0 \
    JOURNEY_SYNC_HEALTH_PORT=8080

VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
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
