"""Training and test data loaders: batches are lists of :class:`ClipMapper` dicts.

Clips of one batch may differ in size; the model pads them.
"""
import collections
import itertools
import logging
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.utils.data as torchdata

from .catalog import load_dataset_dicts
from .mapper import ClipMapper
from .records import KeyFrameRecords, as_key_frame_records

__all__ = [
    "get_dataset_dicts",
    "select_key_frames",
    "check_num_actions",
    "TrainingSampler",
    "InferenceSampler",
    "ResumableBatchStream",
    "sample_seed",
    "build_train_loader",
    "build_test_loader",
    "trivial_batch_collator",
]

logger = logging.getLogger(__name__)


def get_dataset_dicts(names: Sequence[str], *, filter_empty: bool = False) -> KeyFrameRecords:
    """Records of all splits in ``names`` (:mod:`woo.data.records`), optionally without key frames
    that have no actor."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("no dataset named (DATASETS.TRAIN / DATASETS.TEST is empty)")
    records = KeyFrameRecords.concatenate([load_dataset_dicts(name) for name in names])
    return select_key_frames(records, names, filter_empty=filter_empty)


def select_key_frames(records, names: Sequence[str], *, filter_empty: bool) -> KeyFrameRecords:
    """``records`` (:class:`KeyFrameRecords` or a list of record dicts) of splits ``names``, without
    key frames that have no actor when ``filter_empty`` (the count is logged); an error when
    nothing is left."""
    if isinstance(records, list) and not records:
        raise ValueError(f"datasets {list(names)} have no key frame to load")
    records = as_key_frame_records(records)
    if filter_empty:
        kept = records.select(np.flatnonzero(records.num_boxes > 0))
        logger.info("dropped %d of %d key frames without actors", len(records) - len(kept), len(records))
        records = kept
    if not len(records):
        raise ValueError(f"datasets {list(names)} have no key frame to load")
    return records


def check_num_actions(num_actions: int, records: KeyFrameRecords, names: Sequence[str]) -> None:
    """Raise a one-line ``ValueError`` when the model's ``MODEL.WOO.NUM_ACTIONS`` is not the width of
    the records' action vectors (the label map's largest id)."""
    if records.num_actions != num_actions:
        raise ValueError(
            f"MODEL.WOO.NUM_ACTIONS is {num_actions}, but dataset(s) {', '.join(names)} have "
            f"{records.num_actions} action classes (the largest id of their label map); "
            f"set MODEL.WOO.NUM_ACTIONS {records.num_actions}"
        )


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


def sample_seed(seed: int, rank: int, position: int) -> int:
    """Seed of the augmentation of the clip at ``position`` of process ``rank``'s stream."""
    return int(np.random.SeedSequence([seed, rank, position]).generate_state(1, dtype=np.uint64)[0] >> 1)


class ResumableBatchStream(torchdata.IterableDataset):
    """Endless batches of mapped records, starting at batch ``start_iter``.

    Resuming after a crash must feed the model the very batches an
    uninterrupted run would have fed it, so batch ``b`` is a pure function of
    (seed, rank, b): it holds the records at positions ``b * batch_size ..
    (b + 1) * batch_size - 1`` of ``sampler``'s endless index stream, and each
    clip is mapped under ``torch.random.fork_rng`` seeded by :func:`sample_seed`
    of its position, so augmentation neither depends on nor changes any
    process's global generator. With ``W`` DataLoader workers, worker ``w``
    builds batches ``start_iter + w, start_iter + w + W, ...``; the DataLoader
    takes from its workers in turn, so batches arrive in order.

    Args:
        records: the key-frame records (a sequence of record dicts, :mod:`woo.data.records`).
        mapper: record -> model input dict, drawing randomness from torch's global generator.
        sampler: endless iterable of record indices, the same for one seed.
        batch_size: clips per batch of this process.
        start_iter: index of the first batch.
        seed, rank: make the augmentation seeds.
    """

    def __init__(
        self,
        records: Sequence[Dict],
        mapper: Callable[[Dict], Dict],
        sampler,
        *,
        batch_size: int,
        start_iter: int = 0,
        seed: int = 0,
        rank: int = 0,
    ):
        self._records, self._mapper, self._sampler = records, mapper, sampler
        self._batch_size, self._start_iter = int(batch_size), int(start_iter)
        self._seed, self._rank = int(seed), int(rank)

    def __iter__(self) -> Iterator[List[Dict]]:
        info = torchdata.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        indices = iter(self._sampler)
        position = 0
        batch = self._start_iter + worker
        while True:
            begin = batch * self._batch_size
            # Skip the positions other workers map (and, at first, those before start_iter).
            collections.deque(itertools.islice(indices, begin - position), maxlen=0)
            items = []
            for offset, index in enumerate(itertools.islice(indices, self._batch_size)):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(sample_seed(self._seed, self._rank, begin + offset))
                    items.append(self._mapper(self._records[index]))
            position = begin + self._batch_size
            yield items
            batch += num_workers


def build_train_loader(cfg, *, start_iter: int = 0, mapper: Optional[Callable] = None, records=None,
                       rank: int = 0, world_size: int = 1,
                       worker_init_fn: Optional[Callable[[int], None]] = None) -> torchdata.DataLoader:
    """Endless loader of training batches (lists of SOLVER.IMS_PER_BATCH // world_size clips).

    Records come from DATASETS.TRAIN (without empty key frames when
    DATALOADER.FILTER_EMPTY_ANNOTATIONS), shuffled with SEED, sharded across
    processes. Batch ``b`` is the same whenever it is built, so a run resumed
    at ``start_iter`` sees what an uninterrupted run would have seen.

    Args:
        cfg: ``cfg.SEED`` must be resolved already (non-negative, the same on every process:
            :func:`woo.runtime.seed.resolve_seed`), so that the processes' shards stay disjoint.
        records: the training key frames, when the caller has loaded them already (to size the
            schedule); None loads them.
        rank / world_size: this process and the number of processes sharing the batches.
        worker_init_fn: run first in each DataLoader worker (e.g. to set its threads).
    """
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world_size} processes")
    if cfg.SEED < 0:
        raise ValueError(f"SEED {cfg.SEED}: resolve a negative seed first (woo.runtime.seed.resolve_seed)")
    if records is None:
        records = get_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    check_num_actions(cfg.MODEL.WOO.NUM_ACTIONS, records, cfg.DATASETS.TRAIN)
    mapper = mapper if mapper is not None else ClipMapper.from_config(cfg, is_train=True)
    seed = int(cfg.SEED)
    sampler = TrainingSampler(len(records), seed=seed, rank=rank, world_size=world_size)
    stream = ResumableBatchStream(
        records, mapper, sampler, batch_size=cfg.SOLVER.IMS_PER_BATCH // world_size,
        start_iter=start_iter, seed=seed, rank=rank,
    )
    # The workers' base seed comes from this generator, not from torch's global one.
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torchdata.DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        generator=generator,
        worker_init_fn=worker_init_fn,
    )


def build_test_loader(
    cfg, dataset_name: str, *, mapper: Optional[Callable] = None, batch_size: int = 1, rank: int = 0,
    world_size: int = 1, worker_init_fn: Optional[Callable[[int], None]] = None,
) -> torchdata.DataLoader:
    """Loader covering split ``dataset_name`` once, sharded across ``world_size`` processes, in record order
    (``worker_init_fn``: run first in each DataLoader worker)."""
    records = get_dataset_dicts([dataset_name])
    check_num_actions(cfg.MODEL.WOO.NUM_ACTIONS, records, [dataset_name])
    mapper = mapper if mapper is not None else ClipMapper.from_config(cfg, is_train=False)
    sampler = InferenceSampler(len(records), rank=rank, world_size=world_size)
    return torchdata.DataLoader(
        _MapDataset(records, mapper),
        sampler=sampler,
        batch_size=batch_size,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        worker_init_fn=worker_init_fn,
    )


class _MapDataset(torchdata.Dataset):
    def __init__(self, records: Sequence[Dict], mapper: Callable):
        self._records, self._mapper = records, mapper

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Dict:
        return self._mapper(self._records[index])
