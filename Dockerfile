# merit-order: one image for the API (`serve`, the default) and the job worker (`worker`).
#
#   docker build -t merit-order .
#   docker run -p 3000:3000 merit-order                          # the API on :3000
#   docker run -e REDIS_URL=redis://host:6379/0 merit-order worker   # a Celery worker
#
# Two stages: the builder installs the dependencies (from the ranges in pyproject.toml)
# and our wheel into a virtualenv; the final stage is python:3.11-slim plus that venv and
# nothing else: no compiler, no pip cache, no sources, no tests. It runs as an unprivileged
# user. Both stages use the same base so that the venv's interpreter path is the same.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependencies first, from pyproject.toml alone, so that a source change does not
# reinstall them (a separate, cached layer).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install --upgrade pip wheel \
    && pip install -r requirements.txt

# Then our own package, as a wheel (--no-deps: they are all in already).
COPY README.md ./
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/*.whl \
    && pip uninstall -y pip wheel setuptools \
    && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} + \
    && merit-order --help > /dev/null

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="merit-order" \
      org.opencontainers.image.description="Exact minimum-cost production plans for a power portfolio"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json

# A fixed, unprivileged uid/gid (no home, no shell): volumes and policies can name it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /tmp

EXPOSE 3000

# No curl in slim: the interpreter is there anyway. Exits non-zero on a refused connection,
# a timeout or any non-2xx answer. /_healthcheck never needs the API key. (A worker
# container has no HTTP server: docker-compose.yml gives it its own health check.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_healthcheck' % os.environ.get('PORT', '3000'), timeout=4)"]

# uvicorn finishes in-flight requests on SIGTERM (10 s); Celery does a warm shutdown.
STOPSIGNAL SIGTERM
ENTRYPOINT ["merit-order"]
CMD ["serve"]
