"""The progressive-rollout controller: a small Deployment per endpoint that drives the endpoint's rollout
from inside the cluster, so the rollout does not depend on the operator's terminal (see `driver`).

It runs from its own image (the controller host: this package's import closure, see
`backends/common/environments/scoring_host.py`), never from the operator's machine.
"""
