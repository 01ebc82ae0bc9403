"""The policy package stays pure: standard library only, no Django, nothing else of the project."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parents[2] / "grants" / "policy"
PROJECT_ROOT = POLICY_DIR.parents[1]


def _policy_sources() -> list[Path]:
    files = sorted(POLICY_DIR.rglob("*.py"))
    assert files, f"no python files found under {POLICY_DIR}"
    return files


def _absolute_imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_every_module_under_grants_policy_imports_only_the_standard_library() -> None:
    offenders = []
    for path in _policy_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module in _absolute_imports(tree):
            top = module.split(".")[0]
            if top != "__future__" and top not in sys.stdlib_module_names:
                offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_no_module_under_grants_policy_imports_dynamically() -> None:
    # __import__/importlib could smuggle django (or anything) past the check above.
    offenders = []
    for path in _policy_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in ("__import__", "import_module"):
                    offenders.append(f"{path.name}:{node.lineno}")
        assert "importlib" not in _absolute_imports(tree)
    assert offenders == []


def test_importing_grants_policy_loads_no_django_module_at_runtime() -> None:
    # A fresh interpreter, so modules the test run itself loaded do not interfere. The real
    # `grants` package is imported on the way: its __init__ must stay free of imports too.
    code = (
        "import sys\n"
        "import grants.policy\n"
        "from grants.policy import evaluate, parse_policy, api_default_policy\n"
        "parse_policy(api_default_policy('111122223333'), kind='key')\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')\n"
        "             or m.split('.')[0] in ('keys', 'audit', 'api', 'kmsconsole')\n"
        "             or (m.startswith('grants.') and not m.startswith('grants.policy')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.stdout.strip() == ""
