#!/usr/bin/env python
"""Install the ``woo`` package (projects/WOO/woo) and the ``woo`` command."""
import glob
import os
import shutil

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def shipped_configs():
    """configs/ travels inside the package as woo/configs, so that woo.model_zoo, zoo names given to
    --config-file and _BASE_ references work wherever woo is installed. In the checkout it is a link
    to configs/ (a copy where links are not possible); the wheel holds the files."""
    source = os.path.join(HERE, "configs")
    target = os.path.join(HERE, "projects", "WOO", "woo", "configs")
    if os.path.isdir(source):
        if os.path.islink(target):
            os.unlink(target)
        elif os.path.isdir(target):
            shutil.rmtree(target)
        try:
            os.symlink(os.path.relpath(source, os.path.dirname(target)), target)
        except OSError:
            shutil.copytree(source, target)
    return sorted(os.path.relpath(p, os.path.dirname(target))
                  for p in glob.glob(os.path.join(target, "**", "*.yaml"), recursive=True))

setup(
    name="woo",
    version="0.1.0",
    description="Watch Only Once: end-to-end video action detection (ICCV 2021)",
    license="Apache-2.0",
    python_requires=">=3.9",
    package_dir={"": "projects/WOO"},
    packages=find_packages(where="projects/WOO", include=["woo", "woo.*"]),
    package_data={"woo": shipped_configs()},
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
    # extracts frames in the AVA-layout test, as datasets/README.md documents; import-linter:
    # tests/test_layers.py checks the layering (.importlinter); selenium drives Debian's chromium
    # (where installed) in the browser test of the report and demo pages.
    extras_require={"dev": ["pytest>=7", "pytest-timeout", "onnxruntime>=1.16", "imageio-ffmpeg", "import-linter>=2.0",
                            "selenium>=4.11"]},
    entry_points={"console_scripts": ["woo=woo.cli:main"]},
)
