"""People who read and act on the record: names, roles, API tokens and passwords (pure)."""
