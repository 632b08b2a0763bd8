"""CPU, memory and GPU limits for an instance container, derived from the deployment spec.

Kubernetes-type specs say it themselves (`resources.limits`, else `resources.requests`); managed specs
name an Azure VM size, looked up in a table of the common ones. Docker refuses a CPU limit above the
host's core count, so such a limit is lowered to what the host has, with a note saying so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from endpointctl.core.spec import DeploymentSpec

GIB = 1 << 30


@dataclass(frozen=True)
class InstanceSize:
    cpus: float
    memory_gib: float
    gpus: int = 0


# Azure VM sizes used for online endpoints (vCPUs, memory GiB, GPUs), from Azure's size tables.
INSTANCE_TYPES: dict[str, InstanceSize] = {
    "standard_ds1_v2": InstanceSize(1, 3.5),
    "standard_ds2_v2": InstanceSize(2, 7),
    "standard_ds3_v2": InstanceSize(4, 14),
    "standard_ds4_v2": InstanceSize(8, 28),
    "standard_ds5_v2": InstanceSize(16, 56),
    "standard_f2s_v2": InstanceSize(2, 4),
    "standard_f4s_v2": InstanceSize(4, 8),
    "standard_f8s_v2": InstanceSize(8, 16),
    "standard_f16s_v2": InstanceSize(16, 32),
    "standard_e2s_v3": InstanceSize(2, 16),
    "standard_e4s_v3": InstanceSize(4, 32),
    "standard_e8s_v3": InstanceSize(8, 64),
    "standard_nc4as_t4_v3": InstanceSize(4, 28, 1),
    "standard_nc6s_v3": InstanceSize(6, 112, 1),
    "standard_nc12s_v3": InstanceSize(12, 224, 2),
    "standard_nc24s_v3": InstanceSize(24, 448, 4),
    "standard_nc24ads_a100_v4": InstanceSize(24, 220, 1),
}

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)([KMGTPE]i?|[numk])?$")
_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


@dataclass(frozen=True)
class Limits:
    nano_cpus: int | None
    memory_bytes: int | None
    gpus: int
    notes: tuple[str, ...] = ()


def quantity(text: str) -> float:
    """A Kubernetes quantity as a plain number: "500m" → 0.5, "2Gi" → 2147483648, "1G" → 1e9."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, suffix = float(match.group(1)), match.group(2)
    if suffix is None:
        return number
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def limits_for(spec: DeploymentSpec, *, host_cpus: int | None = None) -> Limits:
    host_cpus = host_cpus or os.cpu_count() or 1
    notes: list[str] = []
    cpus: float | None
    memory: float | None
    gpus = 0
    if spec.kind == "kubernetes":
        amounts = [a for a in (spec.resources.limits, spec.resources.requests) if a] if spec.resources else []
        cpu_text = next((a.cpu for a in amounts if a.cpu), None)
        mem_text = next((a.memory for a in amounts if a.memory), None)
        gpu_text = next((a.gpu for a in amounts if a.gpu), None)
        cpus = quantity(cpu_text) if cpu_text else None
        memory = quantity(mem_text) if mem_text else None
        gpus = int(quantity(gpu_text)) if gpu_text else 0
    else:
        size = INSTANCE_TYPES.get((spec.instance_type or "").lower())
        if size is None:
            notes.append(
                f"instance type {spec.instance_type!r} is not in endpointctl's table; no cpu/memory limit"
            )
            cpus = memory = None
        else:
            cpus, memory, gpus = size.cpus, size.memory_gib * GIB, size.gpus
    if cpus is not None and cpus > host_cpus:
        notes.append(f"{cpus:g} CPUs asked for; this host has {host_cpus}, so the limit is {host_cpus}")
        cpus = float(host_cpus)
    return Limits(
        nano_cpus=round(cpus * 1e9) if cpus else None,
        memory_bytes=int(memory) if memory else None,
        gpus=gpus,
        notes=tuple(notes),
    )
