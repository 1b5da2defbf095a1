"""The Flask app: one blueprint per surface (public status page, ops API); security and errors via init_app."""

from monitor.web.app import create_app
from monitor.web.context import current_runtime, db

__all__ = ["create_app", "current_runtime", "db"]
