"""Benchmarks: timing the set-based SQL paths on the storage back ends PortalWatch supports."""
