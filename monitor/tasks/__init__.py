"""Where jobs run: Celery workers (distributed) or a thread pool in this process (embedded)."""
