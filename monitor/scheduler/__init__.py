"""The scheduler: which checks and periodic jobs are due, sent through a Dispatch (Celery or in-process)."""
