"""What every running job needs, below the engine and the inference code:
checkpoints, inference modes, seeding, logging, threads and torch.distributed helpers."""
