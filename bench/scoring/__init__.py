"""Load-testing our scoring host against azmlinfsrv on the model-1 sample (``python -m bench.scoring``)."""
