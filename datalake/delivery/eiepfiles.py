"""Reading an EIEP delivery of either format: the one entry point the ingest path calls."""
from __future__ import annotations

from pathlib import Path

from datalake.delivery.eiep import EiepDelivery, EiepFormat
from datalake.delivery.eiep3 import read_eiep3
from datalake.delivery.eiep3fast import read_eiep3_fast
from datalake.delivery.eiep13a import read_eiep13a

READERS = {"eiep3": read_eiep3, "eiep13a": read_eiep13a}
FAST_READERS = {"eiep3": read_eiep3_fast}  # None for a file they do not take whole


def read_eiep(path: Path, fmt: EiepFormat, name: str) -> EiepDelivery:
    """The EIEP file at ``path`` as raw reads and attributes, or ``ValidationError`` naming
    the line and field of each problem (then nothing may be committed)."""
    fast = FAST_READERS.get(fmt)
    found = fast(path, name) if fast is not None else None
    return found if found is not None else READERS[fmt](path, name)
