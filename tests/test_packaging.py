"""The package works wherever it is installed: a wheel carries the configs, found from any folder."""
import os
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = """
import os, sys
import woo
from woo import model_zoo
from woo.config import load_config
assert woo.__file__.startswith(sys.argv[1]), woo.__file__
path = model_zoo.get_config_file("AVA-v2.2/WOO_SlowFast_R50_8x8.yaml")
assert path.startswith(sys.argv[1]) and os.path.isfile(path), path
cfg = model_zoo.get_config("AVA-v2.2/WOO_SlowFast_R50_8x8.yaml")
# A _BASE_ reference (Base-WOO-AVA.yaml) resolved inside the installed package:
assert cfg.MODEL.VIDEO_RESNET.ARCH == "slowfast" and cfg.SOLVER.BASE_LR == 2.5e-5, cfg.SOLVER.BASE_LR
for name in ("Synthetic/WOO_Tiny.yaml", "configs/Synthetic/WOO_Tiny.yaml"):
    assert load_config(name).MODEL.WOO.NUM_PROPOSALS == 16
print(len(model_zoo.list_configs()))
"""


@pytest.mark.slow
def test_wheel_ships_configs_found_from_another_folder(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = [sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "-q", "-w", str(wheels)]
    try:
        import setuptools  # noqa: F401  (present: build with it, offline)
        build.append("--no-build-isolation")
    except ImportError:
        pass
    subprocess.run(build, check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("woo-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "woo/configs/Base-WOO-AVA.yaml" in names and "woo/configs/Synthetic/WOO_Tiny.yaml" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", CHECK, str(target)], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shipped = sorted(os.path.relpath(os.path.join(d, f), os.path.join(REPO, "configs"))
                     for d, _, files in os.walk(os.path.join(REPO, "configs")) for f in files
                     if f.endswith(".yaml") and not f.startswith("Base-"))
    assert int(result.stdout) == len(shipped)
    # A shipped config's name works as --config-file from any folder.
    flops = subprocess.run([sys.executable, "-m", "woo.cli", "flops", "--config-file", "Synthetic/WOO_Instant.yaml",
                            "--input-size", "64", "96"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert flops.returncode == 0 and "GFLOPs" in flops.stdout, flops.stderr
