"""The layout rules of the code base: SQL lives in briefmin/store only, and the store knows
neither models nor the CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import ROOT

# a statement keyword followed by what that statement needs, in a string literal
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|"
                 r"DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|PRAGMA\s+\w+|"
                 r"DROP\s+TABLE|VACUUM\b)", re.IGNORECASE | re.DOTALL)
# bench_size compares with a naive SQLite table of embeddings: its own database, not ours
NOT_OURS = {"bench/bench_size.py"}


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _imports(path: Path) -> set[str]:
    """Modules imported anywhere in the file (lazy imports too), resolved to absolute names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_sql_pattern_finds_sql_and_nothing_else() -> None:
    assert SQL.search("SELECT id FROM contents") and SQL.search("PRAGMA user_version = 2")
    assert SQL.search("insert or ignore into meta(key) values (?)")
    assert not SQL.search("select the briefs to restore") and not SQL.search("update it")


def test_no_sql_outside_the_store() -> None:
    offenders = []
    for path in sorted([*ROOT.glob("briefmin/**/*.py"), *ROOT.glob("bench/*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("briefmin/store/") or rel in NOT_OURS:
            continue
        offenders += [f"{rel}: {s[:60]!r}" for s in _strings(path) if SQL.search(s)]
        if "sqlite3" in _imports(path) - {"sqlite3.DatabaseError"} and rel != "briefmin/cli.py":
            offenders.append(f"{rel}: imports sqlite3")
    assert offenders == []


def test_the_store_imports_neither_the_encoder_nor_the_cli() -> None:
    """Nor does any briefmin module the store imports, at any depth."""
    banned = ("briefmin.encoder", "briefmin.onnx_encoder", "briefmin.cli", "briefmin.ingest",
              "sentence_transformers", "torch", "onnxruntime", "typer", "click")
    todo = sorted(ROOT.glob("briefmin/store/*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        imported = _imports(path)
        bad = [m for m in imported if m.startswith(banned)]
        assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"
        for module in imported:
            parts = module.split(".")
            for candidate in (ROOT.joinpath(*parts).with_suffix(".py"),
                              ROOT.joinpath(*parts, "__init__.py")):
                if module.startswith("briefmin.") and candidate.is_file():
                    todo.append(candidate)
    assert ROOT / "briefmin/text.py" in seen  # the walk does follow the store's imports
