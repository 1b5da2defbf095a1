FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY probes probes
COPY monitor monitor
COPY exemptions exemptions
COPY demo demo
COPY alembic.ini pyproject.toml ./
RUN useradd --system portalwatch
USER portalwatch
EXPOSE 8080
CMD ["gunicorn", "--bind", "0.0.0.0:8080", "--workers", "4", "--access-logfile", "-", "monitor.wsgi:app"]
