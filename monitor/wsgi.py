"""Entry point for a WSGI server in distributed mode: `gunicorn -c /app/monitor/web/gunicorn_conf.py monitor.wsgi:app`.

Pass the gunicorn configuration by path (see gunicorn_conf.py for why never `python:` or --preload).
"""

import logging

from monitor.cli import check_secrets
from monitor.metrics import multiprocess as metrics
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.tasks.celery import CeleryDispatch, make_celery
from monitor.web import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
_settings = Settings.from_env()
check_secrets(_settings)  # a placeholder token must not guard a real service: refuse to load
# Every worker reads (and records into) the host's metrics directory; the gunicorn master removed the
# files of processes no longer running when it started (gunicorn_conf.on_starting).
metrics.start(_settings.metrics_path)
_runtime = Runtime.create(_settings)
if _settings.distributed:
    _runtime.dispatch = CeleryDispatch(make_celery(_settings))
app = create_app(_runtime)
