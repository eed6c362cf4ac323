"""The core library never imports Streamlit: it must run in the CLI, tests and batch jobs."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "va_app"
#: The app-click benchmark drives the real app from outside, as a test does (AppTest).
APP_DRIVERS = {Path("research/bench/app_clicks.py")}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_core_modules_do_not_import_streamlit():
    offenders = []
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE)
        if rel.parts[0] == "ui":
            continue
        if rel in APP_DRIVERS:
            continue
        for name in _imports(path):
            if name.split(".")[0] == "streamlit":
                offenders.append(f"{rel}: {name}")
    assert offenders == []
