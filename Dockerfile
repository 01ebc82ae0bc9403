# kmsconsole's image: one image for the web, worker, beat and migrate services of
# docker-compose.yml (docs/deployment.md).
#
# CI here has no Docker engine, so it cannot build this file. Every command it and the compose
# services run is exercised outside Docker instead: collectstatic, migrate and gunicorn by
# tests/services/test_gunicorn_serves_api.py, the Celery worker and beat by the Celery tests.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Not root: a flaw in the web process must not own the container. A fixed uid, so operators can
# give the secrets files to it (chown 10001, mode 0600: docs/deployment.md).
RUN groupadd --system --gid 10001 kms \
 && useradd --system --uid 10001 --gid kms --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin kms

WORKDIR /app

# Dependencies first, in a layer of their own that is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the project. Editable, so the code runs from /app beside templates/ and static/ (which
# settings find from the source tree). collectstatic needs no secret: it runs in development
# mode with a throwaway var/ folder, and WhiteNoise serves its output (with gzip copies).
COPY . .
RUN pip install --no-deps -e . \
 && DJANGO_DEBUG=1 KMS_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var \
 && mkdir -p /app/var/audit-exports \
 && chown -R kms:kms /app/var

# Production mode by default: it refuses to start until the root key, the secret key, the audit
# digest key and the allowed hosts are given (kmsconsole/production.py).
ENV DJANGO_DEBUG=0 \
    KMS_VAR_DIR=/app/var \
    WEB_CONCURRENCY=4

USER kms
EXPOSE 8000
# gunicorn reads its number of worker processes from WEB_CONCURRENCY.
CMD ["gunicorn", "kmsconsole.wsgi", "--bind", "0.0.0.0:8000", "--timeout", "60"]
