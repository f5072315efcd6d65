"""WOO: Watch Only Once, end-to-end video action detection.

The package is layered; each layer imports only the ones below it:
``formats`` -> ``data`` -> ``modeling`` -> ``evaluation`` -> ``runtime`` / ``config`` / ``reports``
-> ``engine`` / ``inference`` / ``model_zoo`` -> ``commands`` -> ``cli`` -> ``d2``.
Importing ``woo`` imports nothing else; ``woo.d2`` (the detectron2 binding) is imported
explicitly. Run a trained model with ``from woo.inference import VideoPredictor``.
"""
__version__ = "0.1.0"
