"""The package's layering: imports run one way (import-linter), and no import hides inside a function."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "projects", "WOO", "woo")
# Optional heavy dependencies a function may import where it needs them (with a comment saying why).
LOCAL_IMPORTS_ALLOWED = ("matplotlib", "onnx", "onnxruntime", "detectron2")

pytest.importorskip("importlinter")


def _lint_imports(cwd: str, package_parent: str) -> subprocess.CompletedProcess:
    script = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    env = {**os.environ, "PYTHONPATH": package_parent}
    return subprocess.run([script, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True)


def test_import_contracts_are_kept():
    result = _lint_imports(REPO, os.path.dirname(PACKAGE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, upward", [("formats/boxes.py", "woo.engine.trainer"),
                                            ("engine/optim.py", "woo.inference.predictor"),
                                            ("data/catalog.py", "detectron2")])
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    shutil.copytree(PACKAGE, tmp_path / "pkg" / "woo")
    shutil.copy(os.path.join(REPO, ".importlinter"), tmp_path)
    with open(tmp_path / "pkg" / "woo" / module, "a") as f:
        f.write(f"\nimport {upward}  # noqa\n")
    result = _lint_imports(str(tmp_path), str(tmp_path / "pkg"))
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr


def _has_reason(lines, index: int) -> bool:
    """A comment on the import's line, or above it within its block of imports."""
    if "#" in lines[index]:
        return True
    while index > 0:
        index -= 1
        text = lines[index].strip()
        if text.startswith("#"):
            return True
        if not text.startswith(("import ", "from ")):
            return False
    return False


def _local_imports():
    """(file, line, module, has_comment) of every import inside a function of the package."""
    found = []
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            lines = source.splitlines()
            for func in ast.walk(ast.parse(source)):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.Import):
                        modules = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        modules = ["." * node.level + (node.module or "")]
                    else:
                        continue
                    commented = _has_reason(lines, node.lineno - 1)
                    found += [(os.path.relpath(path, PACKAGE), node.lineno, m, commented) for m in modules]
    return found


def test_functions_import_only_optional_heavy_dependencies_with_a_reason():
    local = _local_imports()
    wrong = [(f, n, m) for f, n, m, _ in local if m.split(".")[0] not in LOCAL_IMPORTS_ALLOWED]
    assert not wrong, f"function-local imports of {wrong}: import at the top of the file"
    silent = [(f, n, m) for f, n, m, commented in local if not commented]
    assert not silent, f"function-local imports without a comment saying why: {silent}"
