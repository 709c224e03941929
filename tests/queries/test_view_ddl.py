"""The view DDL files: each is one statement, each is defined by datalake.views, and each
is named in the design record."""
from __future__ import annotations

import duckdb

from datalake import sql
from datalake import views
from tests.conftest import REPO


def test_every_view_file_is_defined_and_documented():
    files = {f"views/{p.stem}" for p in (REPO / "queries" / "views").glob("*.sql")}
    assert files == set(views.STATEMENTS)
    design = (REPO / "docs" / "design.md").read_text()
    for name in files:
        text = sql.query(name)
        assert text.lstrip().startswith("--"), f"{name}.sql should say what it returns"
        assert len(duckdb.extract_statements(text)) == 1, f"{name}.sql should hold one statement"
        assert f"`{name}.sql`" in design, f"{name}.sql is not in docs/design.md"
        assert "hive_partitioning = true" in text or "read_parquet" not in text
