# The one image for every application service in docker-compose.yml (migrate, web, worker, beat).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=referendum.settings \
    PYTHONPATH=/app \
    VAR_DIR=/app/var

WORKDIR /app
COPY . .

# Translations are compiled here so the image needs no gettext at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && find . -name '*.po' -exec sh -c 'for f; do msgfmt --check -o "${f%.po}.mo" "$f" || exit 1; done' _ {} + \
    && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
    && pip install . \
    && useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin referendum \
    && mkdir -p /app/var /app/staticfiles \
    && chown referendum:referendum /app/var /app/staticfiles

# Never run as root: a bug in the application must not own the container.
USER referendum
EXPOSE 8000
CMD ["gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
