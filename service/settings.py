"""Service settings, read once from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    lake: str

    @classmethod
    def from_env(cls) -> Settings:
        lake = os.environ.get("METERLAKE_LAKE")
        if not lake:
            raise RuntimeError("METERLAKE_LAKE is not set")
        return cls(lake=lake)
