"""endpointctl: deploy, roll out, watch and score ML online endpoints from a terminal."""

__version__ = "0.1.0"
