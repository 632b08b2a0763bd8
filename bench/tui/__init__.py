"""TUI benchmarks: cold start to first frame, navigator refresh at 1,000 endpoints, 100,000 log lines."""
