"""WOO: Watch Only Once, end-to-end video action detection.

Importing ``woo`` never imports detectron2; the detectron2 binding lives in
``woo.d2`` and is imported explicitly.
"""
__version__ = "0.1.0"
