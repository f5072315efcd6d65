"""AVA-layout data: file readers (ava_annotations, ava_box_csv, ava_label_map),
named splits (catalog, and ``register_dataset`` to name one's own), key-frame records
(dataset), clips and transforms (clip_sampling, transforms, mapper), loaders (build), sets
written by ``woo prepare`` (prepared) and the synthetic dataset (synthetic)."""
from .catalog import register_dataset

__all__ = ["register_dataset"]
