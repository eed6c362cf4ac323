"""The layers hold: the core never imports Streamlit or the UI, and the entrypoints (the pages,
``va_app/ui`` and the CLI) reach the corpus only through the service layer.

Read from the source (``ast``), so a violation fails here before anything runs. Each check is
also run on a planted violation (the last tests), so none of them can pass by finding nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "va_app"
#: The app benchmarks drive the real app from outside, as a test does (AppTest).
APP_DRIVERS = {Path("research/bench/app_clicks.py"), Path("research/bench/pages.py")}
#: Streamlit views and the CLI: they call va_app.services and nothing below it.
ENTRYPOINTS = [
    ROOT / "app.py",
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((CORE / "ui").rglob("*.py")),
    CORE / "cli.py",
]
#: Modules an entrypoint may not import: the stores, the ORM, SQL.
BELOW_SERVICES = ("va_app.store", "sqlalchemy")
#: Store methods that change something: an entrypoint calling one on a store it reached
#: through the workspace (``ws.labels.annotate``) bypasses the access check and the event log.
STORE_WRITES = {
    "annotate",
    "annotate_many",
    "import_annotations",
    "create_label",
    "update_label",
    "delete_label",
    "log_event",
    "set_meta",
    "save",
    "export",
    "begin_video",
    "mark_video_ready",
    "delete_video",
    "set_clusters",
    "add_ground_truth",
    "record_skipped",
    "clear_skipped",
    "reindex",
    "recover",
    "session",
    "unit_of_work",
    "append",
    "add",
    "remove",
}
STORES = {"labels", "models", "corpus", "catalog", "index", "matrix"}
#: Service calls that act for someone: an entrypoint must say who (``user=``).
ACTIONS = {
    "annotate",
    "annotate_many",
    "create_label",
    "edit_label",
    "delete_label",
    "build",
    "export_model",
    "score_all",
    "import_annotations",
    "export_annotations",
    "ingest_videos",
    "build_demo",
    "reindex",
    "import_netflix_data",
    "backup_corpus",
    "restore_corpus",
}


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", [a.name for a in node.names]))
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def core_violations(source: str) -> list[str]:
    """A core module importing Streamlit or the UI layer."""
    return [
        module
        for module, _ in _imports(ast.parse(source))
        if _under(module, "streamlit") or _under(module, "va_app.ui")
    ]


def entrypoint_violations(source: str) -> list[str]:
    """An entrypoint importing below the services, writing through a store, or acting for
    nobody."""
    tree = ast.parse(source)
    found = []
    for module, names in _imports(tree):
        if any(_under(module, below) for below in BELOW_SERVICES):
            found.append(f"imports {module}")
        found += [f"imports the ORM row {n}" for n in names if n.endswith("Row")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "catalog":
            found.append(f"line {node.lineno}: reaches into the SQL catalog")
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, node.func.value
        if (
            method in STORE_WRITES
            and isinstance(receiver, ast.Attribute)
            and receiver.attr in STORES
        ):
            found.append(f"line {node.lineno}: .{receiver.attr}.{method}() bypasses Workspace")
        if method in ACTIONS and not any(k.arg == "user" for k in node.keywords):
            found.append(f"line {node.lineno}: .{method}() without user=")
    return found


def _core_modules() -> list[Path]:
    return [
        p
        for p in CORE.rglob("*.py")
        if p.relative_to(CORE).parts[0] != "ui" and p.relative_to(CORE) not in APP_DRIVERS
    ]


def test_core_modules_do_not_import_streamlit_or_the_ui():
    offenders = [
        f"{p.relative_to(ROOT)}: {v}"
        for p in _core_modules()
        for v in core_violations(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_views_ui_and_cli_go_through_the_service_layer():
    assert len(ENTRYPOINTS) > 8  # app.py, five views, the ui modules, the CLI
    offenders = [
        f"{p.relative_to(ROOT)}: {v}"
        for p in ENTRYPOINTS
        for v in entrypoint_violations(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_core_check_catches_a_planted_violation():
    assert core_violations("import streamlit as st\n") == ["streamlit"]
    assert core_violations("from va_app.ui.cards import card_grid\n") == ["va_app.ui.cards"]
    assert core_violations("from va_app.services.workspace import Workspace\n") == []


def test_the_entrypoint_check_catches_planted_violations():
    planted = {
        "from va_app.store.schema import VideoRow\n": [
            "imports va_app.store.schema",
            "imports the ORM row VideoRow",
        ],
        "import sqlalchemy\n": ["imports sqlalchemy"],
        "from sqlalchemy import select\n": ["imports sqlalchemy"],
        "ws.labels.annotate('night', 'a|0', True, annotator='ana')\n": [
            "line 1: .labels.annotate() bypasses Workspace",
            "line 1: .annotate() without user=",
        ],
        "ws.corpus.catalog.log_event('x')\n": [
            "line 1: reaches into the SQL catalog",
            "line 1: .catalog.log_event() bypasses Workspace",
        ],
        "ws.build('night')\n": ["line 1: .build() without user="],
    }
    for source, expected in planted.items():
        assert sorted(entrypoint_violations(source)) == sorted(expected), source
    assert entrypoint_violations("ws.build('night', user=me)\nws.labels.history('night')\n") == []
