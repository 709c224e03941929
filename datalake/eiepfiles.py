"""Reading an EIEP delivery of either format: the one entry point the ingest path calls."""
from __future__ import annotations

from pathlib import Path

from .eiep import EiepDelivery, EiepFormat
from .eiep3 import read_eiep3
from .eiep13a import read_eiep13a

READERS = {"eiep3": read_eiep3, "eiep13a": read_eiep13a}


def read_eiep(path: Path, fmt: EiepFormat, name: str) -> EiepDelivery:
    """The EIEP file at ``path`` as raw reads and attributes, or ``ValidationError`` naming
    the line and field of each problem (then nothing may be committed)."""
    return READERS[fmt](path, name)
