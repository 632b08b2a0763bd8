"""Progressive delivery: a candidate deployment takes over from a baseline step by step, judged by gates the
gateway measures, and rolls back by itself when a gate fails (see plan, gates, machine)."""
