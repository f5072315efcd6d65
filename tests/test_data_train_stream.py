"""The resumable training stream: batches are a function of (seed, rank, iteration)."""
import itertools

import pytest
import torch
import torch.utils.data as torchdata

from woo.data.build import ResumableBatchStream, TrainingSampler, trivial_batch_collator


def _mapper(record):
    # Draws from torch's global generator, as ClipMapper's scale and flip do.
    return {"index": record["index"], "noise": float(torch.rand(()))}


def _batches(start_iter, num_workers, count, seed=3):
    records = [{"index": i} for i in range(7)]
    stream = ResumableBatchStream(
        records, _mapper, TrainingSampler(len(records), seed=seed), batch_size=3,
        start_iter=start_iter, seed=seed,
    )
    generator = torch.Generator()
    generator.manual_seed(seed)
    loader = torchdata.DataLoader(
        stream, batch_size=None, num_workers=num_workers, collate_fn=trivial_batch_collator,
        generator=generator,
    )
    return [[(d["index"], d["noise"]) for d in batch] for batch in itertools.islice(loader, count)]


def test_batches_follow_the_sampler_stream():
    batches = _batches(0, 0, 4)
    generator = torch.Generator()
    generator.manual_seed(3)
    stream = torch.randperm(7, generator=generator).tolist() + torch.randperm(7, generator=generator).tolist()
    assert [i for batch in batches for i, _ in batch] == stream[:12]
    assert len({n for batch in batches for _, n in batch}) == 12  # every clip its own draw


@pytest.mark.parametrize("num_workers", [0, 2])
def test_starting_later_gives_the_same_batches(num_workers):
    full = _batches(0, num_workers, 6)
    assert _batches(4, num_workers, 2) == full[4:]
    assert _batches(1, num_workers, 3) == full[1:4]


def test_workers_do_not_change_the_batches():
    assert _batches(0, 2, 5) == _batches(0, 0, 5)
    assert _batches(0, 0, 3, seed=4) != _batches(0, 0, 3)


def test_mapping_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    _batches(0, 0, 2)
    assert torch.equal(torch.rand(3), expected)
