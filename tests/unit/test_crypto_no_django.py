"""The crypto package stays pure: no Django, no non-CSPRNG randomness."""

from __future__ import annotations

import ast
from pathlib import Path

CRYPTO_DIR = Path(__file__).resolve().parents[2] / "keys" / "crypto"


def _crypto_sources() -> list[Path]:
    files = sorted(CRYPTO_DIR.rglob("*.py"))
    assert files, f"no python files found under {CRYPTO_DIR}"
    return files


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_module_under_keys_crypto_imports_django() -> None:
    offenders = []
    for path in _crypto_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module in _imported_modules(tree):
            if module == "django" or module.startswith("django."):
                offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_no_module_under_keys_crypto_imports_dynamically() -> None:
    # __import__/importlib could smuggle django (or anything) past the check above.
    offenders = []
    for path in _crypto_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in ("__import__", "import_module"):
                    offenders.append(f"{path.name}:{node.lineno}")
        assert "importlib" not in _imported_modules(tree)
    assert offenders == []


def test_no_module_under_keys_crypto_uses_the_non_cryptographic_random_module() -> None:
    offenders = []
    for path in _crypto_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module in _imported_modules(tree):
            if module == "random" or module.startswith("random."):
                offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_importing_keys_crypto_loads_no_django_module_at_runtime() -> None:
    # Catches transitive imports too (for example through keys/__init__.py), in a
    # fresh interpreter so modules the test run itself loaded do not interfere.
    import subprocess
    import sys

    code = (
        "import sys, keys.crypto\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(bad))\n"
    )
    project_root = CRYPTO_DIR.parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project_root)},
    )
    assert result.stdout.strip() == ""
