"""File formats, the bottom layer: AVA box CSVs, label maps, frame lists, ACT
ground-truth pickles, the restricted unpickler, JSON results and atomic writes.
Nothing here imports another layer of ``woo``."""
