"""What the backends that run instances on this machine (process, docker) share.

An agent per data directory and backend supervises instances through a `Runtime` (processes or
containers) and routes to them with the embedded gateway; the client side writes desired state to the
store and nudges the agent. Only the runtime differs between the local backends.
"""
