"""The Kubernetes backend: endpoints as Deployments, Services, a ConfigMap-driven gateway and a Secret.

Importing this package must stay cheap: the `kubernetes` SDK is imported only by `client.py`, at first use.
"""
