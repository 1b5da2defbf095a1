"""Demo helpers: a simulated flaky immigration portal and a generator of demo cases with deadlines."""
