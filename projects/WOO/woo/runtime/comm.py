"""torch.distributed helpers that also work in a single process.

Every function answers as if there were one process when torch.distributed is
not initialized, so the engine runs unchanged with and without DDP.
"""
from typing import Any, List

import torch
import torch.distributed as dist

__all__ = [
    "is_dist",
    "get_world_size",
    "get_rank",
    "set_local_rank",
    "get_local_rank",
    "is_main_process",
    "synchronize",
    "all_gather_object",
    "broadcast_object",
    "collective_device",
    "any_process",
]

# Set by woo.engine.launch for the processes it starts; torchrun passes LOCAL_RANK instead.
_LOCAL_RANK = 0


def is_dist() -> bool:
    """True when torch.distributed is initialized with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def set_local_rank(local_rank: int) -> None:
    global _LOCAL_RANK
    _LOCAL_RANK = int(local_rank)


def get_local_rank() -> int:
    """Rank of this process on its machine (its GPU index)."""
    return _LOCAL_RANK


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op in a single process."""
    if is_dist():
        dist.barrier()


def all_gather_object(obj: Any) -> List[Any]:
    """Picklable ``obj`` of every process, in rank order (``[obj]`` in one process)."""
    if not is_dist():
        return [obj]
    gathered: List[Any] = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of process ``src``, on every process."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def collective_device() -> torch.device:
    """Device of tensors sent through the process group (NCCL needs CUDA)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is True on any of them (a collective: every
    process calls it at the same point); ``flag`` itself in a single process."""
    if not is_dist():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], dtype=torch.int32, device=collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
