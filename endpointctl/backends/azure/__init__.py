"""The Azure ML managed-online-endpoint backend: ARM REST (api-version 2024-04-01) over httpx."""
