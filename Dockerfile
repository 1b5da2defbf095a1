FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# Debian's chromium for browser probes (playwright drives it; no browser is downloaded).
RUN apt-get update && apt-get install -y --no-install-recommends chromium && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY probes probes
COPY monitor monitor
COPY exemptions exemptions
COPY demo demo
COPY alembic.ini pyproject.toml ./
RUN useradd --system portalwatch \
    && mkdir -p /var/lib/portalwatch/evidence /var/lib/portalwatch/metrics && chown -R portalwatch /var/lib/portalwatch
USER portalwatch
# Where the processes of this host keep their metrics for GET /metrics (prometheus_client's multiprocess
# mode); with several containers on one host, a volume they all mount here.
ENV PORTALWATCH_METRICS_DIR=/var/lib/portalwatch/metrics
# Inside the container the web listens on every interface; outside one the configuration's default is loopback.
ENV PORTALWATCH_WEB_BIND=0.0.0.0:8080
EXPOSE 8080
# gevent workers, timeouts and limits: see monitor/web/gunicorn_conf.py. Given by path, not `python:`,
# so the master does not import the app before the workers are patched.
CMD ["gunicorn", "-c", "/app/monitor/web/gunicorn_conf.py", "monitor.wsgi:app"]
