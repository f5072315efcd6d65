"""A training loader whose batches are a pure function of (SEED, rank, iteration).

Resuming after a crash must feed the model the very batches an uninterrupted
run would have fed it, so this loader can start at any iteration, and every
clip's random augmentation (scale, flip) is drawn from a generator seeded by
the clip's position in the stream, not from a worker's running generator.
"""
import collections
import itertools
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
import torch.utils.data as torchdata

from woo.data.build import TrainingSampler, get_dataset_dicts, trivial_batch_collator
from woo.data.mapper import ClipMapper

from . import comm

__all__ = [
    "KeyFrameOnlyMapper",
    "build_clip_mapper",
    "ResumableBatchStream",
    "build_resumable_train_loader",
    "sample_seed",
]


class KeyFrameOnlyMapper:
    """Ablation: the clip of a key frame is that key frame repeated T times.

    Wraps a mapper and hands it a record whose video is the key frame alone,
    so clip sampling clamps every index onto it.
    """

    def __init__(self, mapper: Callable[[Dict], Dict]):
        self._mapper = mapper

    def __call__(self, record: Dict) -> Dict:
        key_path = record["frame_paths"][record["key_frame_index"]]
        return self._mapper(dict(record, frame_paths=[key_path], key_frame_index=0))


def build_clip_mapper(cfg, is_train: bool) -> Callable[[Dict], Dict]:
    """``ClipMapper`` of ``cfg``, showing only the key frame when INPUT.KEY_FRAME_ONLY."""
    mapper = ClipMapper.from_config(cfg, is_train=is_train)
    return KeyFrameOnlyMapper(mapper) if cfg.INPUT.KEY_FRAME_ONLY else mapper


def sample_seed(seed: int, rank: int, position: int) -> int:
    """Seed of the augmentation of the clip at ``position`` of process ``rank``'s stream."""
    return int(np.random.SeedSequence([seed, rank, position]).generate_state(1, dtype=np.uint64)[0] >> 1)


class ResumableBatchStream(torchdata.IterableDataset):
    """Endless batches of mapped records, starting at batch ``start_iter``.

    Batch ``b`` holds the records at positions ``b * batch_size ..
    (b + 1) * batch_size - 1`` of ``sampler`` 's endless index stream. With
    ``W`` DataLoader workers, worker ``w`` builds batches ``start_iter + w,
    start_iter + w + W, ...``; the DataLoader takes from its workers in turn,
    so batches arrive in order. Mapping runs under ``torch.random.fork_rng``
    seeded by :func:`sample_seed`, so augmentation never depends on, nor
    changes, any process's global generator.

    Args:
        records: dataset dicts.
        mapper: record -> model input dict (draws its randomness from torch's
            global generator).
        sampler: iterable of record indices, endless, same for one seed.
        batch_size: clips per batch of this process.
        start_iter: index of the first batch.
        seed, rank: make the augmentation seeds.
    """

    def __init__(
        self,
        records: List[Dict],
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
            # Drop the positions other workers map (and, at first, those before start_iter).
            collections.deque(itertools.islice(indices, begin - position), maxlen=0)
            items = []
            for offset, index in enumerate(itertools.islice(indices, self._batch_size)):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(sample_seed(self._seed, self._rank, begin + offset))
                    items.append(self._mapper(self._records[index]))
            position = begin + self._batch_size
            yield items
            batch += num_workers


def build_resumable_train_loader(
    cfg, *, start_iter: int = 0, mapper: Optional[Callable] = None
) -> torchdata.DataLoader:
    """Endless loader of SOLVER.IMS_PER_BATCH // world_size clips per batch, from batch ``start_iter``.

    Records of DATASETS.TRAIN (without empty key frames when
    DATALOADER.FILTER_EMPTY_ANNOTATIONS), shuffled by SEED (which must be
    non-negative), sharded across processes.
    """
    world_size, rank = comm.get_world_size(), comm.get_rank()
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world_size} processes"
        )
    if cfg.SEED < 0:
        raise ValueError("a resumable training loader needs a fixed SEED >= 0")
    records = get_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    mapper = mapper if mapper is not None else build_clip_mapper(cfg, is_train=True)
    sampler = TrainingSampler(len(records), seed=cfg.SEED, rank=rank, world_size=world_size)
    stream = ResumableBatchStream(
        records,
        mapper,
        sampler,
        batch_size=cfg.SOLVER.IMS_PER_BATCH // world_size,
        start_iter=start_iter,
        seed=cfg.SEED,
        rank=rank,
    )
    # The loader draws its workers' base seed from this generator, not from torch's global one.
    generator = torch.Generator()
    generator.manual_seed(cfg.SEED)
    return torchdata.DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        generator=generator,
    )
