"""Training and evaluation engine: ``woo train`` (launch), the loop (trainer),
checkpoints, optimizer and schedule, the frame-mAP evaluator, and
torch.distributed helpers (comm). Submodules are imported where used."""
