"""torchrun / DistributedDataParallel glue: which process this is, its device, and small collectives.

Run under `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT set) the process group starts with NCCL
on CUDA and Gloo on the CPU; without them everything is a no-op for a single process. Only rank 0 writes
files and prints (`is_main`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from slowfast_core.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables are set."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str = "auto") -> Dist:
    """Start the process group when launched by torchrun; choose the device (CUDA per local rank, else CPU)."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but no CUDA device is available: use --device cpu")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu or cuda")
    if not launched_by_torchrun():
        return Dist(0, 1, 0, torch.device("cuda" if want_cuda else "cpu"))
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if want_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    return Dist(rank, world, local, dev)


def teardown(d: Dist) -> None:
    """End the process group (if this process started one)."""
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(d: Dist, tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over all processes (in place, on the collective's device); a no-op for one process."""
    if d.enabled:
        moved = tensor.to(d.device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        tensor.copy_(moved.to(tensor.device))
    return tensor


def any_process(d: Dist, flag: bool) -> bool:
    """True when `flag` is True on any process (so all ranks stop at the same step)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    return bool(all_reduce_sum(d, t).item() > 0)


def barrier(d: Dist) -> None:
    """Wait for every process."""
    if d.enabled:
        dist.barrier()
