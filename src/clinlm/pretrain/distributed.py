"""Data parallelism on torch's own engine: one process per device, started by ``torchrun``.

``torchrun --nproc-per-node N -m clinlm pretrain ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
and the rendezvous address; :func:`init_world` joins the process group from them (NCCL on GPUs,
gloo on CPUs). Without those variables this is one process and nothing is initialised. The model is
wrapped in DDP (a full copy per rank; gradients averaged) or, with ``--fsdp``, FSDP (parameters,
gradients and optimizer state sharded across ranks, for models that do not fit one GPU).
Only rank 0 writes checkpoints, logs and the final model; every rank takes part in gathering them.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from clinlm.errors import ConfigError
from clinlm.runtime.device import resolve_device


@dataclass(frozen=True)
class World:
    """This process's place: rank, world size, rank on its machine, and its device."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1 or dist.is_initialized()


def launched() -> bool:
    """True under torchrun (or any launcher that sets the torch.distributed variables)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_world(device: str = "auto") -> World:
    """Join the process group when launched by torchrun, else a world of one on ``device``."""
    if not launched():
        return World(0, 1, 0, resolve_device(device))
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local} but only {torch.cuda.device_count()} GPU(s) on this machine; "
                              "start at most that many processes per node")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", device_id=dev if dev.type == "cuda" else None)
    return World(rank, size, local, dev)


def close(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: list[float], world: World) -> list[float]:
    """Sums over ranks of a few numbers (one small all-reduce)."""
    if not world.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def encoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a ``*ForMaskedLM`` model (FSDP shards one unit per block)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    return list(layers) if isinstance(layers, torch.nn.ModuleList) else []


def wrap(objective: torch.nn.Module, world: World, fsdp: bool) -> torch.nn.Module:
    """``objective`` on the device, wrapped for data parallelism (DDP, or FSDP with ``fsdp``).

    Under FSDP the model is sharded block by block while still on the CPU: each block moves to the
    device as its shard, so the whole model never has to fit one GPU."""
    if fsdp:
        if not world.distributed:
            raise ConfigError("--fsdp shards a model across processes: start it with torchrun --nproc-per-node N")
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(world.device.type, (world.size,))
        for layer in encoder_layers(objective.model):
            fully_shard(layer, mesh=mesh)
        fully_shard(objective, mesh=mesh)
        return objective
    objective.to(world.device)
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [world.device.index] if world.device.type == "cuda" else None
        return DistributedDataParallel(objective, device_ids=ids)
    return objective


@contextlib.contextmanager
def gradient_sync(wrapped: torch.nn.Module, sync: bool) -> Iterator[None]:
    """Skip the gradient all-reduce on every micro-batch but an optimizer step's last."""
    if hasattr(wrapped, "no_sync") and not sync:  # DDP
        with wrapped.no_sync():
            yield
        return
    if hasattr(wrapped, "set_requires_gradient_sync"):  # FSDP2
        wrapped.set_requires_gradient_sync(sync)
    yield


def unwrapped(wrapped: torch.nn.Module) -> torch.nn.Module:
    return getattr(wrapped, "module", wrapped)


def gather_rng(world: World) -> dict[str, torch.Tensor]:
    """Every rank's torch RNG state (CPU, and CUDA where used), stacked by rank (for the checkpoint)."""
    states = {"cpu": torch.get_rng_state()}
    if world.device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(world.device)
    if not world.distributed:
        return {k: v.unsqueeze(0) for k, v in states.items()}
    out = {}
    for k, v in states.items():
        local = v.to(world.device)
        parts = [torch.empty_like(local) for _ in range(world.size)]
        dist.all_gather(parts, local)
        out[k] = torch.stack(parts).cpu()
    return out


def restore_rng(states: dict[str, torch.Tensor], world: World) -> bool:
    """Set this rank's RNG from a checkpoint's states; False when they came from another world size."""
    if states.get("cpu") is None or states["cpu"].shape[0] != world.size:
        return False
    torch.set_rng_state(states["cpu"][world.rank].clone())
    if world.device.type == "cuda" and states.get("cuda") is not None:
        torch.cuda.set_rng_state(states["cuda"][world.rank].clone(), world.device)
    return True


#: Set to a folder, and every rank writes ``rank-<r>.json`` there at the end: a checksum of the
#: parameters it holds (for tests and debugging that the ranks stayed in step; FSDP ranks hold shards).
CHECKSUM_ENV = "CLINLM_PRETRAIN_CHECKSUMS"


def write_checksum(module: torch.nn.Module, world: World, extra: dict) -> None:
    folder = os.environ.get(CHECKSUM_ENV)
    if not folder:
        return
    import hashlib
    import json
    from pathlib import Path

    h = hashlib.sha256()
    for name, p in sorted(unwrapped(module).named_parameters()):
        local = p.to_local() if hasattr(p, "to_local") else p
        h.update(name.encode())
        h.update(local.detach().float().cpu().contiguous().numpy().tobytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    record = dict(extra, rank=world.rank, world_size=world.size, sha256=h.hexdigest())
    (Path(folder) / f"rank-{world.rank}.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
