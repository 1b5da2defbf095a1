"""Metrics for Prometheus: the series PortalWatch's processes record, and what `GET /metrics` reads at scrape time.

- `series`: the process-local series (checks recorded, check latency, scheduler lateness), recorded by
  whichever process does the work (`serve`, a Celery worker, the scheduler);
- `multiprocess`: how those processes share one directory of files, so one scrape of any web process
  sees what every process of its host recorded;
- `files`: the bookkeeping of that directory (standard library only: the gunicorn master runs it);
- `collector`: the figures read from the database at scrape time (open outages, blind locations, the
  outbox backlog), and `exposition`, the text a scrape gets.

This package's `__init__` imports nothing: the gunicorn master imports `files` and must not load more.
"""
