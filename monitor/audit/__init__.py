"""The audit log's chain: each entry's hash covers what it records and the entry before it (pure)."""
