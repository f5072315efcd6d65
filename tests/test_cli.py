"""The ``woo`` command dispatcher."""
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
