"""Cases, the relief policy, and the grants an outage earns the people it hurt."""
