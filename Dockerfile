# Every image of Order Service, one target each. Build from the repository root (the uv
# workspace and its lockfile live there); PACKAGE names the workspace member to install:
#   docker build --target ingestor   --build-arg PACKAGE=order-ingestor   -t order-ingestor .
#   docker build --target query      --build-arg PACKAGE=order-query      -t order-query .
#   docker build --target courier    --build-arg PACKAGE=order-courier    -t order-courier .
#   docker build --target producer   --build-arg PACKAGE=order-producer   -t order-producer .
#   docker build --target migrations --build-arg PACKAGE=order-migrations -t order-migrations .
# Tilt builds ingestor-dev, query-dev and courier-dev, which it live-updates.
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- builder: install exactly what uv.lock pins for PACKAGE into /app/.venv ---------------
FROM ${PYTHON_IMAGE} AS builder
ARG PACKAGE
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first, from the lockfile and the workspace's manifests alone: a
# layer rebuilt only when uv.lock or a pyproject.toml changes, not on every source edit.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=shared/pyproject.toml,target=shared/pyproject.toml \
    --mount=type=bind,source=services/ingestor/pyproject.toml,target=services/ingestor/pyproject.toml \
    --mount=type=bind,source=services/query/pyproject.toml,target=services/query/pyproject.toml \
    --mount=type=bind,source=services/producer/pyproject.toml,target=services/producer/pyproject.toml \
    --mount=type=bind,source=services/courier/pyproject.toml,target=services/courier/pyproject.toml \
    --mount=type=bind,source=db/pyproject.toml,target=db/pyproject.toml \
    uv sync --frozen --no-dev --no-install-workspace --package "${PACKAGE}"
# Then our own packages, as wheels (not editable): the runtime image needs no sources.
COPY pyproject.toml uv.lock ./
COPY shared shared
COPY services services
COPY db db
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${PACKAGE}"

# --- runtime: the virtualenv and an unprivileged account, no uv, no compiler -------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# --- service: a long-running server; liveness on its PORT's /healthz ----------------------
FROM runtime AS service
ENV HOST=0.0.0.0
# Liveness of the process itself; readiness (/readyz) is for the orchestrator to route
# traffic, not a reason to restart.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/healthz\", timeout=2)"]

# --- ingestor: Kafka to PostgreSQL; health, readiness and metrics on 8081 -----------------
FROM service AS ingestor
ENV PORT=8081
EXPOSE 8081
ENTRYPOINT ["order-ingestor"]
USER 10001:10001

# Tilt's live update syncs sources into the installed packages as the app user.
FROM ingestor AS ingestor-dev
USER 0:0
RUN chown -R app:app /app/.venv/lib/python3.11/site-packages/ingestor \
        /app/.venv/lib/python3.11/site-packages/order_shared
USER 10001:10001

# --- query: the JSON API and the page on 8080 ---------------------------------------------
FROM service AS query
COPY web /app/web
ENV PORT=8080 \
    WEB_ROOT=/app/web
EXPOSE 8080
ENTRYPOINT ["order-query"]
USER 10001:10001

FROM query AS query-dev
USER 0:0
RUN chown -R app:app /app/web /app/.venv/lib/python3.11/site-packages/query \
        /app/.venv/lib/python3.11/site-packages/order_shared
USER 10001:10001

# --- courier: courier assignments from order-events; its API, health and metrics on 8082 ---
FROM service AS courier
ENV PORT=8082
EXPOSE 8082
ENTRYPOINT ["order-courier"]
USER 10001:10001

FROM courier AS courier-dev
USER 0:0
RUN chown -R app:app /app/.venv/lib/python3.11/site-packages/courier \
        /app/.venv/lib/python3.11/site-packages/order_shared
USER 10001:10001

# --- one-shot commands: nothing listens, so their health is their exit status -------------
FROM runtime AS migrations
HEALTHCHECK NONE
ENTRYPOINT ["order-migrate"]
USER 10001:10001

# The canonical order ships inside the package: `order-producer --canonical`.
FROM runtime AS producer
HEALTHCHECK NONE
ENTRYPOINT ["order-producer"]
CMD ["--generate", "50"]
USER 10001:10001
