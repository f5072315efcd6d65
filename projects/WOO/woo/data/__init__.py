"""AVA-layout data: file readers (ava_annotations, ava_box_csv, ava_label_map),
named splits (catalog), key-frame records (dataset), clips and transforms
(clip_sampling, transforms, mapper), loaders (build) and the synthetic dataset
(synthetic). Import the submodule you need;
this package imports nothing heavy."""
