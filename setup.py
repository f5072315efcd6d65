#!/usr/bin/env python
"""Install the ``woo`` package (projects/WOO/woo) and the ``woo`` command."""
from setuptools import find_packages, setup

setup(
    name="woo",
    version="0.1.0",
    description="Watch Only Once: end-to-end video action detection (ICCV 2021)",
    license="Apache-2.0",
    python_requires=">=3.9",
    package_dir={"": "projects/WOO"},
    packages=find_packages(where="projects/WOO", include=["woo", "woo.*"]),
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "pytorchvideo>=0.1.5",
        "fvcore>=0.1.5.post20221221",
        "iopath>=0.1.9",
        "numpy",
        "scipy",
        "opencv-python-headless",
        "pyyaml",
        "tqdm",
        "tensorboard",
        "av",
        "matplotlib",
        # torch.onnx.export (woo export --format onnx) needs it at run time.
        "onnx>=1.14",
    ],
    # onnxruntime: tests run the exported ONNX graph; imageio-ffmpeg: its ffmpeg binary
    # extracts frames in the AVA-layout test, as datasets/README.md documents.
    extras_require={"dev": ["pytest>=7", "pytest-timeout", "onnxruntime>=1.16", "imageio-ffmpeg", "selenium>=4.11"]},
    entry_points={"console_scripts": ["woo=woo.cli:main"]},
)
