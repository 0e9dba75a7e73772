# syntax=docker/dockerfile:1

# Parley's production image: one image for `parley serve` (the default command), `parley worker`
# and `parley db upgrade`. docker-compose.yml runs all three from it.
#
#   docker build -t parley .
#   docker run -e PARLEY_SECRET_KEY=... -e PARLEY_DATABASE_URL=... -e PARLEY_REDIS_URL=... -p 8000:8000 parley
#
# tests/test_deployment.py checks this file against the CLI and the settings.

# --- build: install Parley and its locked dependencies into a virtualenv ----------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# .dockerignore lets through only pyproject.toml, requirements.lock, README.md and the packages.
COPY . .
# The versions in requirements.lock, no dev extras; a regular (not editable) install, so the
# runtime stage needs only the virtualenv, not this source tree.
RUN pip install -c requirements.lock .

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PARLEY_ENV=production

RUN groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid parley --home-dir /app --shell /usr/sbin/nologin parley \
    && mkdir -p /app/var \
    && chown -R parley:parley /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# slim has no curl: ask /healthz with the standard library. PARLEY_PORT is what `parley serve`
# binds when no --port is given.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PARLEY_PORT', '8000'), timeout=4)"]

# X-Forwarded-For is trusted only from the proxies PARLEY_FORWARDED_ALLOW_IPS names (none by default).
CMD ["parley", "serve", "--host", "0.0.0.0"]
