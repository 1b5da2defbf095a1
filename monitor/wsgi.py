"""Entry point for a WSGI server in distributed mode: `gunicorn monitor.wsgi:app`."""

from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.web import create_app

app = create_app(Runtime.create(Settings.from_env()))
