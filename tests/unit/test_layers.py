"""The layers hold: the core never imports Streamlit or the UI; the entrypoints (the pages,
``va_app/ui`` and the CLI) reach the corpus only through the service layer's actions and reads;
the actions and reads know no data set (the bootstrap wires one in, the jobs run them); and no
module of ``va_app`` takes part in an import cycle, lazy imports included.

Read from the source (``ast``), so a violation fails here before anything runs. Each check is
also run on planted violations (the last tests), so none of them can pass by finding nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "va_app"
#: The app benchmarks drive the real app from outside, as a test does (AppTest).
APP_DRIVERS = {Path("research/bench/app_clicks.py"), Path("research/bench/pages.py")}
#: Streamlit views and the CLI: they call the services' actions and reads, nothing below.
ENTRYPOINTS = [
    ROOT / "app.py",
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((CORE / "ui").rglob("*.py")),
    CORE / "cli.py",
]
#: Modules an entrypoint may not import: the stores, the ORM, SQL.
BELOW_SERVICES = ("va_app.store", "sqlalchemy")
#: What the services object holds below its actions and reads: an entrypoint that names one
#: (``app.corpus``, ``app.view.matrix``, ``app.uow().labels``) reaches past the service layer.
BELOW_ACTIONS = {"corpus", "view", "uow", "catalog", "matrix"}
#: The action services: each of their methods takes the acting user first.
ACTION_SERVICES = {"labelling", "modelling"}
#: Corpus-wide jobs (``va_app.services.jobs``): they take the acting user as ``user=``.
JOBS = {
    "ingest_videos",
    "build_demo",
    "reindex",
    "start_index_job",
    "fill_index",
    "import_netflix_data",
    "backup_corpus",
    "restore_corpus",
    "upgrade_schema",
}
#: Action functions (not methods of an action service), by the position of the acting user.
ACTION_FUNCTIONS = {"edit_export": 1}
#: The service modules that may know concrete data sets: the composition root wires the
#: Netflix release's text vectors into search; the jobs run the demo build and the import.
KNOWS_DATA_SETS = {CORE / "services" / "bootstrap.py", CORE / "services" / "jobs.py"}


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement, lazy ones included."""
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
    """An entrypoint importing below the services, reaching past them, or acting for nobody."""
    tree = ast.parse(source)
    found = []
    for module, names in _imports(tree):
        if any(_under(module, below) for below in BELOW_SERVICES):
            found.append(f"imports {module}")
        found += [f"imports the ORM row {n}" for n in names if n.endswith("Row")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BELOW_ACTIONS:
            found.append(f"line {node.lineno}: .{node.attr} reaches past the service layer")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            found += _actor_violations(node)
    return found


def _actor_violations(call: ast.Call) -> list[str]:
    """An action called without the acting user (or for ``None``)."""
    if isinstance(call.func, ast.Name):
        method, receiver = call.func.id, None
    else:
        method, receiver = call.func.attr, call.func.value
    if isinstance(receiver, ast.Attribute) and receiver.attr in ACTION_SERVICES:
        first = call.args[0] if call.args else None
        if first is None or (isinstance(first, ast.Constant) and first.value is None):
            return [f"line {call.lineno}: .{receiver.attr}.{method}() without the acting user"]
    if method in ACTION_FUNCTIONS:
        at = ACTION_FUNCTIONS[method]
        user = call.args[at] if len(call.args) > at else None
        if user is None or (isinstance(user, ast.Constant) and user.value is None):
            return [f"line {call.lineno}: {method}() without the acting user"]
    if method in JOBS:
        user = next((k.value for k in call.keywords if k.arg == "user"), None)
        if user is None or (isinstance(user, ast.Constant) and user.value is None):
            return [f"line {call.lineno}: .{method}() without user="]
    return []


def service_violations(source: str) -> list[str]:
    """A service module (but the bootstrap) importing a data set's code."""
    return [
        f"imports {module}"
        for module, _ in _imports(ast.parse(source))
        if _under(module, "va_app.datasets")
    ]


# -- the import graph ----------------------------------------------------------------------
def module_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """``{module: modules of va_app it imports}`` from ``{module name: source}``; an import of
    a package's name counts as an import of the package (its ``__init__``)."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, source in sources.items():
        for module, names in _imports(ast.parse(source)):
            for target in [f"{module}.{n}" for n in names] or [module]:
                while target and target not in sources:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _core_modules() -> list[Path]:
    return [
        p
        for p in CORE.rglob("*.py")
        if p.relative_to(CORE).parts[0] != "ui" and p.relative_to(CORE) not in APP_DRIVERS
    ]


# -- the checks ------------------------------------------------------------------------------
def test_core_modules_do_not_import_streamlit_or_the_ui():
    offenders = [
        f"{p.relative_to(ROOT)}: {v}"
        for p in _core_modules()
        for v in core_violations(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_views_ui_and_cli_go_through_the_service_layer():
    assert len(ENTRYPOINTS) > 8  # app.py, the pages, the ui modules, the CLI
    offenders = [
        f"{p.relative_to(ROOT)}: {v}"
        for p in ENTRYPOINTS
        for v in entrypoint_violations(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_actions_and_reads_know_no_data_set():
    modules = [p for p in (CORE / "services").glob("*.py") if p not in KNOWS_DATA_SETS]
    offenders = [
        f"{p.relative_to(ROOT)}: {v}"
        for p in modules
        for v in service_violations(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_no_module_of_va_app_is_in_an_import_cycle():
    sources = {_module_name(p): p.read_text(encoding="utf-8") for p in CORE.rglob("*.py")}
    assert len(sources) > 100
    assert import_cycles(module_graph(sources)) == []


def test_the_core_check_catches_a_planted_violation():
    assert core_violations("import streamlit as st\n") == ["streamlit"]
    assert core_violations("from va_app.ui.cards import card_grid\n") == ["va_app.ui.cards"]
    assert core_violations("from va_app.services.reads import labels\n") == []


def test_the_entrypoint_check_catches_planted_violations():
    planted = {
        "from va_app.store.schema import VideoRow\n": [
            "imports va_app.store.schema",
            "imports the ORM row VideoRow",
        ],
        "import sqlalchemy\n": ["imports sqlalchemy"],
        "from sqlalchemy import select\n": ["imports sqlalchemy"],
        "app.uow().labels.history('night')\n": ["line 1: .uow reaches past the service layer"],
        "ws.corpus.catalog.log_event('x')\n": [
            "line 1: .corpus reaches past the service layer",
            "line 1: .catalog reaches past the service layer",
        ],
        "app.view.matrix.row_of['a|0']\n": [
            "line 1: .view reaches past the service layer",
            "line 1: .matrix reaches past the service layer",
        ],
        "app.modelling.build(label='night')\n": [
            "line 1: .modelling.build() without the acting user"
        ],
        "app.labelling.record(None, 'night', [])\n": [
            "line 1: .labelling.record() without the acting user"
        ],
        "jobs.reindex(settings)\n": ["line 1: .reindex() without user="],
        "editorial.edit_export(app, label='x')\n": [
            "line 1: edit_export() without the acting user"
        ],
        "edit_export(app, None, 'x')\n": ["line 1: edit_export() without the acting user"],
        "jobs.backup_corpus(settings, dest, user=None)\n": [
            "line 1: .backup_corpus() without user="
        ],
    }
    for source, expected in planted.items():
        assert sorted(entrypoint_violations(source)) == sorted(expected), source
    fine = (
        "app.modelling.build(user, 'night')\nreads.history(app, 'night')\n"
        "jobs.reindex(settings, user=me)\napp.settings.data_dir\n"
    )
    assert entrypoint_violations(fine) == []


def test_the_service_check_catches_a_planted_violation():
    planted = "from va_app.datasets.netflix.lookups import zero_shot_query\n"
    assert service_violations(planted) == ["imports va_app.datasets.netflix.lookups"]
    assert service_violations("from va_app.search.shots import SearchQuery\n") == []


def test_the_cycle_check_finds_planted_cycles_lazy_ones_too():
    sources = {
        "va_app.a": "from va_app.b import f\n",
        "va_app.b": "def f():\n    from va_app.a import g\n",  # lazy: still a cycle
        "va_app.c": "from va_app import d\n",
        "va_app.d": "import va_app.c\n",
        "va_app.e": "from va_app.a import f\n",  # imports into a cycle, is not in one
    }
    assert import_cycles(module_graph(sources)) == [
        ["va_app.a", "va_app.b"],
        ["va_app.c", "va_app.d"],
    ]
