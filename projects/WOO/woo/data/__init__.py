"""AVA-layout data: file readers (ava_annotations, ava_box_csv, ava_label_map),
named splits (catalog), key-frame records (dataset), clips and transforms
(clip_sampling, transforms, mapper), loaders (build), sets written by ``woo prepare``
(prepared) and the synthetic dataset (synthetic). Import the submodule you need;
this package imports nothing heavy: ``woo.data.register_dataset`` (the catalog's,
:func:`woo.data.catalog.register_dataset`) loads the catalog when first used."""

__all__ = ["register_dataset"]


def __getattr__(name):
    if name == "register_dataset":
        from .catalog import register_dataset  # the catalog imports numpy, OpenCV and torch: loaded on use

        return register_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
