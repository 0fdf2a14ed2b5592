"""SQL only parameterised (issue 9): every query a database call gets in src/ and projections/
is a string constant or a named constant (UPPER_CASE, the house style), so no value can be
spliced into SQL text: values travel as $n parameters.

A plain AST walk, not a linter plugin: a call whose method is one of asyncpg's query methods
and whose first argument is anything else (an f-string, `%`, `+`, `.format`, a variable) must be
listed in ALLOWED with the reason it is safe. A new one fails until it is looked at.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
SCANNED: Final = (ROOT / "src", ROOT / "projections")
#: asyncpg's methods that take SQL text first (Connection, Pool, transaction-less helpers).
QUERY_METHODS: Final = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor"}
)
#: (file relative to the repository, function) -> why its non-constant query is safe.
ALLOWED: Final[dict[tuple[str, str], str]] = {
    # Helpers that run the SQL their callers pass: each caller passes a named constant.
    ("src/registry/audit/chain_check.py", "_rows"): "callers pass constants of the module",
    ("src/registry/eventstore/personal_pg.py", "append_row"): "the store's APPEND constant",
    ("src/registry/notifications/webhooks.py", "_reached"): "callers pass constants",
    ("projections/base.py", "flush"): "each projection's SQL constants, batched",
    ("projections/base.py", "write_net_effect"): "each projection's DELETE/UPSERT constants",
    ("src/registry/eventstore/clean_release.py", "reset"): "asyncpg's own reset query",
    ("src/registry/eventstore/archived.py", "refuse_archived"): "callers pass ARCHIVED_* constants",
    # Table names spliced into constant templates: they come from the code's own lists of
    # tables (log_file.BESIDE, LOG_TABLES, a projection's `tables`), never from a request.
    ("src/registry/audit/export.py", "export_log"): "ROWS_OF with log_file.BESIDE's tables",
    ("src/registry/audit/import_log.py", "_check_empty"): "ANY_ROW with LOG_TABLES, BESIDE",
    ("src/registry/audit/import_log.py", "_insert"): "INSERT_ROWS with the file's known tables",
    ("projections/rebuild.py", "_clear_leftovers"): "a projection's own table names",
    ("projections/rebuild.py", "_clear"): "a projection's own table names",
    # The migration files themselves, run by `registry migrate` only.
    ("src/registry/migrations.py", "apply_migrations"): "migrations/*.sql, the schema's DDL",
}


def is_named_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id.lstrip("_").isupper()
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_").isupper()
    return False


def query_calls(path: Path) -> list[tuple[str, int, str]]:
    """(function, line, source of the query) of every call not given a constant."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in QUERY_METHODS
                and child.args  # redis pipelines' execute() takes none
                and not is_named_constant(child.args[0])
            ):
                found.append((name, child.lineno, ast.unparse(child.args[0])))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_every_query_is_a_constant() -> None:
    unexplained = []
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            for function, line, source in query_calls(path):
                if (relative, function) not in ALLOWED:
                    unexplained.append(f"{relative}:{line} in {function}: {source}")

    assert unexplained == [], "SQL that is not a named constant:\n" + "\n".join(unexplained)


def test_the_check_catches_spliced_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "QUERY = 'SELECT 1 WHERE a = $1'\n"
        "async def good(conn, a):\n"
        "    await conn.fetch(QUERY, a)\n"
        "    await conn.execute('SELECT 2')\n"
        "async def bad(conn, name):\n"
        "    await conn.fetch(f\"SELECT * FROM t WHERE name = '{name}'\")\n"
        "    await conn.execute('SELECT %s' % name)\n"
        "    sql = QUERY.format(name)\n"
        "    await conn.fetchval(sql)\n"
    )

    assert [(f, line) for f, line, _ in query_calls(sample)] == [("bad", 6), ("bad", 7), ("bad", 9)]
