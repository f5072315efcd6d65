"""The ``woo`` command dispatcher."""
import os
import subprocess
import sys

import pytest

from woo.cli import SUBCOMMANDS, main


def test_every_subcommand_module_defines_the_interface():
    import importlib

    for name, (module_name, _) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments), name
        assert callable(module.main), name


def test_unknown_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["trian"])
    assert info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_console_script_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "woo.cli", "--help"], check=True, capture_output=True, text=True
    ).stdout
    for name in SUBCOMMANDS:
        assert name in out


def test_a_missing_file_is_named_without_the_errno_prefix(tmp_path, capsys):
    missing = tmp_path / "gt.csv"
    assert main(["ava-eval", "--labelmap", str(missing), "--groundtruth", str(missing),
                 "--detections", str(missing)]) == 1
    assert capsys.readouterr().err == f"woo ava-eval: error: {missing}: No such file or directory\n"


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    # `woo synth ... | head -0`: the reader is gone before the command prints its result.
    read_end, write_end = os.pipe()
    os.close(read_end)
    args = ["synth", "--out", str(tmp_path / "s"), "--videos", "1", "--key-frames", "1", "--width", "32",
            "--height", "24"]
    writer = subprocess.run([sys.executable, "-m", "woo.cli", *args], stdout=write_end, stderr=subprocess.PIPE,
                            text=True)
    os.close(write_end)
    assert (tmp_path / "s").is_dir()  # the work was done
    assert writer.returncode == 1 and writer.stderr == ""
