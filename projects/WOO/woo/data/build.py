"""Training and test data loaders: batches are lists of :class:`ClipMapper` dicts.

Clips of one batch may differ in size; the model pads them.
"""
import itertools
import logging
import os
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.utils.data as torchdata

from woo.data.catalog import load_dataset_dicts
from woo.data.mapper import ClipMapper
from woo.engine import comm

__all__ = [
    "get_dataset_dicts",
    "TrainingSampler",
    "InferenceSampler",
    "build_train_loader",
    "build_test_loader",
    "trivial_batch_collator",
]

logger = logging.getLogger(__name__)


def get_dataset_dicts(names: Sequence[str], *, filter_empty: bool = False) -> List[Dict]:
    """Records of all splits in ``names``, optionally without key frames that have no actor."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("no dataset named (DATASETS.TRAIN / DATASETS.TEST is empty)")
    records = [r for name in names for r in load_dataset_dicts(name)]
    if filter_empty:
        kept = [r for r in records if len(r["boxes"])]
        logger.info("dropped %d of %d key frames without actors", len(records) - len(kept), len(records))
        records = kept
    if not records:
        raise ValueError(f"datasets {list(names)} have no key frame to load")
    return records


def trivial_batch_collator(batch: List[Dict]) -> List[Dict]:
    """Batches stay lists of dicts."""
    return batch


class TrainingSampler(torchdata.Sampler):
    """Endless stream of shuffled indices, the same permutations on every
    process for one ``seed``, each process taking every ``world_size``-th index
    from ``rank`` on, so processes see disjoint clips."""

    def __init__(self, size: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1):
        if size <= 0:
            raise ValueError(f"TrainingSampler needs a non-empty dataset, got size {size}")
        self._size, self._shuffle, self._seed = size, shuffle, int(seed)
        self._rank, self._world_size = rank, world_size

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)

    def _infinite_indices(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self._seed)
        while True:
            if self._shuffle:
                yield from torch.randperm(self._size, generator=generator).tolist()
            else:
                yield from range(self._size)


class InferenceSampler(torchdata.Sampler):
    """Indices 0..size-1 split into contiguous shards, one per process; together they cover the set once."""

    def __init__(self, size: int, *, rank: int = 0, world_size: int = 1):
        shard, extra = divmod(size, world_size)
        begin = shard * rank + min(rank, extra)
        self._indices = range(begin, begin + shard + (rank < extra))

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)


class _MappedStream(torchdata.IterableDataset):
    """Map records drawn by an endless sampler and batch them; each DataLoader
    worker takes every ``num_workers``-th index. With ``group_by_aspect``,
    landscape and portrait clips fill separate batches (less padding). A mapper
    with a ``generator`` attribute gets one seeded from (seed, rank, worker)."""

    def __init__(
        self, records: List[Dict], mapper: Callable, sampler, batch_size: int, group_by_aspect: bool,
        seed: Sequence[int],
    ):
        self._records, self._mapper, self._sampler = records, mapper, sampler
        self._batch_size, self._group, self._seed = batch_size, group_by_aspect, list(seed)

    def __iter__(self) -> Iterator[List[Dict]]:
        info = torchdata.get_worker_info()
        indices = iter(self._sampler)
        if info is not None:
            indices = itertools.islice(indices, info.id, None, info.num_workers)
        if hasattr(self._mapper, "generator"):
            worker = 0 if info is None else info.id
            state = np.random.SeedSequence(self._seed + [worker]).generate_state(2, dtype=np.uint64)
            self._mapper.generator = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
        buckets: Dict[bool, List[Dict]] = {False: [], True: []}
        for index in indices:
            item = self._mapper(self._records[index])
            height, width = item["image_size"]
            bucket = buckets[self._group and height > width]
            bucket.append(item)
            if len(bucket) == self._batch_size:
                yield list(bucket)
                bucket.clear()


def _seed(cfg) -> int:
    if cfg.SEED >= 0:
        return int(cfg.SEED)
    # Negative SEED: a fresh seed, shared by all processes so their shards stay disjoint.
    return int(comm.broadcast_object(int.from_bytes(os.urandom(4), "little")))


def build_train_loader(cfg, *, mapper: Optional[Callable] = None) -> torchdata.DataLoader:
    """Endless loader of training batches (lists of SOLVER.IMS_PER_BATCH // world_size clips).

    Records come from DATASETS.TRAIN (without empty key frames when
    DATALOADER.FILTER_EMPTY_ANNOTATIONS), shuffled with SEED, sharded across
    processes; random augmentation is seeded per (SEED, rank, worker).
    """
    world_size, rank = comm.get_world_size(), comm.get_rank()
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world_size} processes")
    records = get_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    mapper = mapper if mapper is not None else ClipMapper.from_config(cfg, is_train=True)
    seed = _seed(cfg)
    sampler = TrainingSampler(len(records), seed=seed, rank=rank, world_size=world_size)
    dataset = _MappedStream(
        records, mapper, sampler, cfg.SOLVER.IMS_PER_BATCH // world_size, cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        seed=(seed, rank),
    )
    # Worker seeds of torch/random derive from this generator, so they too repeat for a (seed, rank).
    generator = torch.Generator()
    generator.manual_seed(seed * 1000 + rank)
    return torchdata.DataLoader(
        dataset,
        batch_size=None,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        generator=generator,
        persistent_workers=cfg.DATALOADER.NUM_WORKERS > 0,
    )


def build_test_loader(
    cfg, dataset_name: str, *, mapper: Optional[Callable] = None, batch_size: int = 1
) -> torchdata.DataLoader:
    """Loader covering split ``dataset_name`` once, sharded across processes, in record order."""
    records = get_dataset_dicts([dataset_name])
    mapper = mapper if mapper is not None else ClipMapper.from_config(cfg, is_train=False)
    sampler = InferenceSampler(len(records), rank=comm.get_rank(), world_size=comm.get_world_size())
    return torchdata.DataLoader(
        _MapDataset(records, mapper),
        sampler=sampler,
        batch_size=batch_size,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
    )


class _MapDataset(torchdata.Dataset):
    def __init__(self, records: List[Dict], mapper: Callable):
        self._records, self._mapper = records, mapper

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Dict:
        return self._mapper(self._records[index])
