"""The lake's files and their hashes, to show a request changed nothing. ``_serving/`` is
left out: it is the service's derived index, rebuilt in the background, not lake data."""
from __future__ import annotations

import hashlib

from datalake.lake import Lake


def lake_files(lake: Lake) -> dict[str, str]:
    return {p.relative_to(lake.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.root.rglob("*"))
            if p.is_file() and p.relative_to(lake.root).parts[0] != "_serving"}
