"""torch.distributed for encodes launched by ``torchrun``: process group, ranks, and moving
results between them: merged feature moments, averaged losses, finished inversion chunks to rank 0,
per-rank read counts (tensors only: no pickled objects cross processes). Gradients are averaged by
``DistributedDataParallel`` in the pipeline; which frames each rank reads is ``frames.rank_share``.

Outside torchrun (no ``RANK``/``WORLD_SIZE`` in the environment, or a world of one) everything
here is a no-op and the encode runs in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class Group:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # we initialised the process group (and tear it down)
    comm_device: str = "cpu"  # where tensors must live for collectives (cuda for nccl)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0


def setup(device: str | None) -> tuple[Group, str]:
    """Join the torchrun job if there is one; pick the device (``cuda`` when available, else cpu).

    Under torchrun, rank ``r`` uses ``cuda:LOCAL_RANK`` with nccl on GPUs, or gloo on CPU.
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if "RANK" not in os.environ or world <= 1:
        return Group(), device or ("cuda" if torch.cuda.is_available() else "cpu")
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda") if device else torch.cuda.is_available()
    if cuda:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    else:
        device = device or "cpu"
    owned = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        owned = True
    return Group(rank, dist.get_world_size(), local, owned, device if cuda else "cpu"), device


def close(group: Group) -> None:
    """Tear down the process group this module started: every rank meets at a barrier first, so
    none closes its gloo connections while a peer still uses them (gloo can abort the process,
    "terminate called without an active exception", when a peer tears down early)."""
    if group.owned:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def barrier(group: Group) -> None:
    if group.active:
        import torch.distributed as dist

        dist.barrier()


def mean_over_ranks(group: Group, values: list[float], weight: float) -> list[float]:
    """Weighted mean of per-rank ``values`` (weights: e.g. frames seen by each rank)."""
    if not group.active:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor([v * weight for v in values] + [weight], dtype=torch.float64, device=group.comm_device)
    dist.all_reduce(t)
    return (t[:-1] / t[-1]).tolist()


def moments_merger(group: Group):
    """For ``feature_stats(merge=...)``: every rank gets the moments of all ranks' videos, merged
    (Chan et al.) in rank order, so all ranks hold the same statistics. ``None`` outside torchrun."""
    if not group.active:
        return None

    def merge(n: int, mean: np.ndarray, m2: np.ndarray):
        import torch
        import torch.distributed as dist

        mine = torch.from_numpy(np.concatenate(([float(n)], mean, m2))).to(group.comm_device)
        parts = [torch.empty_like(mine) for _ in range(group.world)]
        dist.all_gather(parts, mine)
        D = mean.shape[0]
        tot, mu, acc = 0.0, np.zeros(D), np.zeros(D)
        for p in parts:
            p = p.cpu().numpy()
            nb, mb, m2b = p[0], p[1:D + 1], p[D + 1:]
            if nb == 0:
                continue
            delta, t = mb - mu, tot + nb
            mu = mu + delta * (nb / t)
            acc = acc + m2b + delta * delta * (tot * nb / t)
            tot = t
        return int(tot), mu, acc

    return merge


def collect_chunks(group: Group, owners: list[int], rows: list[int], width: int,
                   local: dict[int, tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Send every chunk's ``(codes (rows_i, width) float32, info (k,) float64)`` to rank 0.

    ``owners[i]`` is the rank that computed chunk ``i`` and ``local`` holds this rank's chunks.
    Rank 0 gets the list in chunk order; other ranks get None.
    """
    if not group.active:
        return [local[i] for i in range(len(owners))]
    import torch
    import torch.distributed as dist

    out: list[tuple[np.ndarray, np.ndarray]] = []
    dev = group.comm_device
    for i, owner in enumerate(owners):
        if owner == 0 and group.is_root:
            out.append(local[i])
        elif group.is_root:
            codes = torch.empty((rows[i], width), dtype=torch.float32, device=dev)
            dist.recv(codes, src=owner)
            n = torch.empty(1, dtype=torch.int64, device=dev)
            dist.recv(n, src=owner)
            info = torch.empty(int(n.item()), dtype=torch.float64, device=dev)
            dist.recv(info, src=owner)
            out.append((codes.cpu().numpy(), info.cpu().numpy()))
        elif owner == group.rank:
            codes, info = local[i]
            dist.send(torch.from_numpy(np.ascontiguousarray(codes, np.float32)).to(dev), dst=0)
            dist.send(torch.tensor([len(info)], dtype=torch.int64, device=dev), dst=0)
            dist.send(torch.from_numpy(np.asarray(info, np.float64)).to(dev), dst=0)
    return out if group.is_root else None


def gather_counts(group: Group, counts: dict[str, int]) -> dict[str, list[int]]:
    """Every rank's ``counts`` (the same keys on every rank), as ``{key: [count of rank 0, 1, ...]}``."""
    keys = sorted(counts)
    if not group.active or not keys:
        return {k: [int(counts[k])] for k in keys}
    import torch
    import torch.distributed as dist

    mine = torch.tensor([int(counts[k]) for k in keys], dtype=torch.int64, device=group.comm_device)
    parts = [torch.empty_like(mine) for _ in range(group.world)]
    dist.all_gather(parts, mine)
    table = torch.stack(parts).cpu().tolist()
    return {k: [row[j] for row in table] for j, k in enumerate(keys)}
