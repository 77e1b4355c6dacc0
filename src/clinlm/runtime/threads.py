"""How many compute threads inference should use.

Matrix kernels gain nothing from hyper-threads and lose a lot when more threads than cores
compete (a container that sees the host's 64 CPUs but is allowed 2 is the usual case), so
we count the physical cores this process may run on and cap them by the cgroup CPU quota.
A user's ``OMP_NUM_THREADS`` always wins.
"""
from __future__ import annotations

import math
import os
from pathlib import Path


def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int] | None = None, sysfs: Path = Path("/sys/devices/system/cpu")) -> int:
    """Distinct (package, core) pairs among ``cpus``; the CPU count when topology is unreadable."""
    cpus = _allowed_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topo = sysfs / f"cpu{cpu}" / "topology"
        try:
            cores.add((topo.joinpath("physical_package_id").read_text().strip(), topo.joinpath("core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def cgroup_cpu_limit(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """The cgroup v2 CPU quota rounded up to whole CPUs, or ``None`` when unlimited/unknown."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def inference_threads() -> int:
    """Threads for intra-op parallelism: ``OMP_NUM_THREADS`` if set, else physical cores within the quota."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    n = physical_cores()
    limit = cgroup_cpu_limit()
    return min(n, limit) if limit else n


def configure_torch_threads() -> int:
    """Set torch's intra-op threads to :func:`inference_threads` (once per process is enough)."""
    import torch

    n = inference_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
