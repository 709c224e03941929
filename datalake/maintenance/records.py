"""The run stages and alias records ``meterlake check`` verifies: a candidate without a
publish_seq, a run answering latest with one, and each alias pointing at a published run."""
from __future__ import annotations

from typing import TYPE_CHECKING

from datalake.lake import Lake
from datalake.runs.record import STAGES
from datalake.storage.files import read_json
from datalake.storage.layout import ALIAS_NAME_RE

if TYPE_CHECKING:
    from datalake.maintenance.check import CheckReport


def check_stage(record: dict, where: str, report: CheckReport) -> None:
    """A candidate has no publish_seq (it answers no latest); a published run that is not
    one has a publish_seq; only a published (or retracted) run has a stage."""
    stage, seq = record.get("stage"), record.get("publish_seq")
    if record["status"] not in ("published", "retracted"):
        if stage is not None:
            report.problems.append(f"{where}: a run that is {record['status']} has stage {stage!r}")
        return
    if stage is not None and stage not in STAGES:
        report.problems.append(f"{where}: stage {stage!r} is not one of {', '.join(STAGES)}")
    elif stage == "candidate" and seq is not None:
        report.problems.append(f"{where}: a candidate with publish_seq {seq!r} (only promotion gives it one)")
    elif stage != "candidate" and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
        report.problems.append(f"{where}: published, not a candidate, without a publish_seq ({seq!r})")


def check_aliases(lake: Lake, statuses: dict[str, str], report: CheckReport) -> None:
    """Each alias record names itself and points at nothing (deleted) or at a run that was
    published (it may have been retracted since); its history is a list of earlier states."""
    for path in sorted(lake.layout.aliases_dir.glob("*.json")):
        where = lake.layout.relative(path)
        try:
            record = read_json(path)
        except (OSError, ValueError) as e:
            report.problems.append(f"{where}: unreadable alias record ({e})")
            continue
        report.aliases += 1
        if not isinstance(record, dict) or record.get("name") != path.stem or not ALIAS_NAME_RE.match(path.stem):
            report.problems.append(f"{where}: names alias {record.get('name') if isinstance(record, dict) else None!r}")
            continue
        run = record.get("run_id")
        if run is not None and statuses.get(run) not in ("published", "retracted"):
            state = f"is {statuses[run]}" if run in statuses else "does not exist"
            report.problems.append(f"{where}: points at {run!r}, which {state}")
        history = record.get("history")
        if not isinstance(history, list) or not all(isinstance(h, dict) and {"run_id", "set_at", "set_by"} <= h.keys()
                                                    for h in history):
            report.problems.append(f"{where}: history is not a list of earlier states (run_id, set_at, set_by)")
