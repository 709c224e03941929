"""Deleting the raw files that compactions replaced, once readers that may still read them have
had their grace period."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from datalake.errors import InvalidArgumentError, environment_errors
from datalake.lake import COMPACTION, Lake
from datalake.storage.files import fsync_dir


@dataclass
class VacuumResult:
    removed: list[str] = field(default_factory=list)
    bytes: int = 0
    waiting: list[str] = field(default_factory=list)  # replaced, but within the grace period
    dry_run: bool = False  # then ``removed`` lists what would be deleted, and nothing was

    def summary(self) -> str:
        done = "would remove" if self.dry_run else "removed"
        return (f"{done} {len(self.removed)} replaced file(s), {self.bytes:,} bytes; "
                f"{len(self.waiting)} replaced file(s) kept until their grace period ends")

    def to_dict(self) -> dict:
        return asdict(self)


def replaced_files(lake: Lake) -> list[tuple[str, dt.datetime]]:
    """Every raw file a compaction replaced (path relative to the lake), with the time of
    that compaction. None of them is in the current snapshot."""
    return [(path, dt.datetime.fromisoformat(r["committed_at"]))
            for r in lake.commits() if r.get("kind") == COMPACTION for path in r["replaces"]]


@environment_errors
def vacuum(lake: Lake, *, older_than: dt.timedelta, dry_run: bool = False,
           now: dt.datetime | None = None) -> VacuumResult:
    """Delete the raw files replaced by compactions committed more than ``older_than`` ago.
    Readers that listed files before such a compaction must finish within ``older_than``;
    readers that list files after it never see the deleted ones."""
    if older_than < dt.timedelta(0):
        raise InvalidArgumentError("older_than must not be negative", field="older_than", value=str(older_than))
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    result = VacuumResult(dry_run=dry_run)
    with lake.write_lock():
        current = {f.path for f in lake.raw_files()}
        touched = set()
        for relative, committed_at in replaced_files(lake):
            path = lake.layout.absolute(relative)
            if path in current or not path.exists():
                continue
            if committed_at > cutoff:
                result.waiting.append(relative)
                continue
            blocks = lake.layout.blocks_of(path)
            result.bytes += path.stat().st_size + (blocks.stat().st_size if blocks.exists() else 0)
            result.removed.append(relative)
            if not dry_run:
                blocks.unlink(missing_ok=True)
                path.unlink(missing_ok=True)
                touched.update((path.parent, blocks.parent))
        for folder in touched:
            fsync_dir(folder)
    return result
