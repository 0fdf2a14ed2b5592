# registry: one image for the API (`registry serve`) and the projector (`registry projections run`).
#
#   docker build -t registry .
#   docker-compose up            (see docker-compose.yml: api, projector, postgres, redis)
#
# Two stages: `build` installs uv from PyPI and resolves the locked dependencies into /app/.venv;
# `runtime` copies that venv and the sources, at the same paths, into a clean slim image that runs
# as a non-root user. The project is installed the same way as in development (an editable install
# whose .pth points at /app/src and /app), so the code finds migrations/ and projections/ exactly as
# it does in a checkout.

FROM python:3.11-slim AS build

ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first (a layer that changes only with the lock file) ...
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# ... then the project itself.
COPY src/ src/
COPY projections/ projections/
COPY migrations/ migrations/
COPY examples/ examples/
RUN uv sync --frozen --no-dev


FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    REGISTRY_DATA_DIR=/data

RUN groupadd --system --gid 10001 registry \
    && useradd --system --uid 10001 --gid registry --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin registry \
    && mkdir -p /data \
    && chown registry:registry /data

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY pyproject.toml uv.lock README.md ./
COPY src/ src/
COPY projections/ projections/
COPY migrations/ migrations/
COPY examples/ examples/

USER registry:registry

EXPOSE 8000

# /health answers when the process is alive (/ready also needs PostgreSQL, Redis and the gate).
# The slim image has no curl: ask with the standard library.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["registry"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
