"""AVA-layout data: readers (ava_io), named splits (catalog), key-frame records
(dataset), clips and transforms (clip_sampling, transforms, mapper), loaders
(build) and the synthetic dataset (synthetic). Import the submodule you need;
this package imports nothing heavy."""
