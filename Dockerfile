# Slim runtime image: non-root user, embedded SQLite by default (mount a volume at /data or set
# DATABASE_URL to PostgreSQL and REDIS_URL for several replicas).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/marketsvc.db
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 marketsvc \
    && mkdir -p /data && chown marketsvc /data
USER marketsvc
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status==200 else 1)"
CMD ["marketsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
