"""The DDL appendix of docs/design.md is generated from the code and must be current."""
from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def test_the_design_record_ddl_appendix_is_current():
    spec = importlib.util.spec_from_file_location("gen_ddl", REPO / "docs" / "gen_ddl.py")
    gen_ddl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_ddl)
    text = (REPO / "docs" / "design.md").read_text()
    assert gen_ddl.current(text) == gen_ddl.appendix(), "run: python docs/gen_ddl.py"
