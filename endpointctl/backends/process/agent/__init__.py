"""The process-backend agent: one per data directory; converges running instances to the state store."""
