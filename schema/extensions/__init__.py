"""Schema extensions, one concern a file: the error contract, the request's session, limits, cost
budget and persisted operations."""
