"""All of the master's SQL is in master/store/: no statement, no execute() and no database driver in the rest
of master/, in notify/ or in lab/ (the minion's spool, minion/spool.py, is the node's own database)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("master", "notify", "lab")
STORE = ROOT / "master" / "store"
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE"
                 r"|CREATE\s+INDEX)\b", re.DOTALL)
DRIVERS = {"sqlite3", "psycopg"}
RUNS_SQL = {"execute", "executemany", "executescript"}


def sql_outside_the_store(path: Path, root: Path = ROOT) -> list[str]:
    """file:line: what looks like SQL, a call that runs it, or an import of a database driver."""
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(root)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{where}:{node.lineno}: SQL {node.value.strip()[:60]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            found.append(f"{where}:{node.lineno}: .{node.func.attr}(...)")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}:{node.lineno}: import {n}" for n in names if n.split(".")[0] in DRIVERS]
    return found


def test_no_sql_outside_the_store() -> None:
    files = [p for d in CHECKED for p in sorted((ROOT / d).rglob("*.py")) if STORE not in p.parents]
    assert len(files) > 40  # the folders were found
    assert [f for p in files for f in sql_outside_the_store(p)] == []


def test_the_check_sees_each_kind_of_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('import sqlite3\nQ = """SELECT id\n FROM events"""\n'
                      'def f(conn):\n    conn.executemany("INSERT OR IGNORE INTO t VALUES (?)", [])\n'
                      'DOC = "the store selects what it needs from the events table"\n')
    found = sorted(f.split(": ", 1)[1][:14] for f in sql_outside_the_store(sample, tmp_path))
    assert found == [".executemany(.", "SQL 'INSERT OR", "SQL 'SELECT id", "import sqlite3"]


def test_notify_reaches_the_store_only_through_the_interface_it_declares() -> None:
    imports = [f"{p.relative_to(ROOT)}:{node.lineno}: {name}" for p in sorted((ROOT / "notify").rglob("*.py"))
               for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Import | ast.ImportFrom)
               for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
               if name.startswith("hamaster.master")]
    assert imports == []
