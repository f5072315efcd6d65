"""Small utilities shared by the data, engine and detectron2 code."""
