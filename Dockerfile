# Backchannel server image. The commands here are the ones the tests run outside Docker:
# tests/scale/test_container.py starts CMD and probes with HEALTHCHECK, word for word.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The locked dependencies first (their own layer, cached while only the code changes), every
# file checked against its hash; then the package itself, without resolving anything more.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY alembic ./alembic
COPY web ./web
COPY app ./app
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin backchannel \
    && mkdir /data && chown backchannel:backchannel /data \
    && rm -rf /src

USER backchannel
WORKDIR /data
# The embedded default (SQLite in the /data volume, one process). For several replicas set
# BACKCHANNEL_DATABASE_URL=postgresql+asyncpg://… and BACKCHANNEL_BROKER_URL=redis://…
ENV BACKCHANNEL_DATABASE_URL=sqlite+aiosqlite:////data/backchannel.db \
    PORT=8000
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=3)"]

# Applies pending migrations (a no-op when up to date), then serves HTTP and WebSockets.
CMD ["backchannel", "serve", "--host", "0.0.0.0"]
