"""Storage: engine and sessions, column types, the dialect helper, every table and its migrations.

Nothing here imports anything above it: detection, the outbox, relief and the web all build on it.
"""
