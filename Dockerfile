FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=apiup.settings.production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . \
 && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build FIELD_ENCRYPTION_KEYS=ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U= \
    python manage.py collectstatic --noinput
RUN useradd --create-home apiup && chown -R apiup /app
USER apiup
EXPOSE 8000
CMD ["gunicorn", "apiup.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "30", "--access-logfile", "-"]
