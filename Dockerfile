# Chaat API server.
#   docker build -t chaat .
#   docker run -p 8080:8080 -e DATABASE_URL=postgresql://... -e CHAAT_SECRET_KEY=... chaat
# Without DATABASE_URL the server starts its embedded PostgreSQL in /data (mount a volume there).

# Build the wheel: the image installs exactly what `pip install chaat` would.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHAAT_DATA_DIR=/data \
    CHAAT_PORT=8080

# A fixed, unprivileged user: neither the server nor the embedded PostgreSQL it
# starts ever runs as root.
RUN groupadd --system --gid 10001 chaat \
    && useradd --system --no-log-init --uid 10001 --gid chaat --home-dir /data --create-home chaat

COPY --from=build /wheels /wheels
# With the Redis client, so that containers on several hosts can share CHAAT_REDIS_URL.
RUN pip install --no-cache-dir "$(echo /wheels/*.whl)[redis]" && rm -rf /wheels

USER 10001:10001
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v1/health' % os.environ.get('CHAAT_PORT', '8080'), timeout=4)"]
CMD ["chaat", "serve", "--host", "0.0.0.0"]
