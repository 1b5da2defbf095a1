"""PortalWatch's service: status page, ops API, storage, outage detection, alerting, scheduling."""
