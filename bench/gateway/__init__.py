"""Gateway benchmark: the same upstream hit directly and through the gateway (``python -m bench.gateway``)."""
