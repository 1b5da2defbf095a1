"""The outbox: events written with the change they describe, one delivery per consumer, claims and backoff."""
