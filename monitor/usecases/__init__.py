"""Use cases: what PortalWatch does, combining storage, detection, the outbox, relief and channels.

Web, tasks, the scheduler and the CLIs call these; nothing here knows Flask or Celery.
"""
