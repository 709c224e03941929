"""Algorithm runs: their lifecycle (create, upload, publish, promote, retract, abort), the
aliases that name them, the files and statistics a publish writes, and the coverage,
checks, diff and totals of a run."""
from datalake.runs.aliases import delete_alias, get_alias, list_aliases, resolve_run, set_alias
from datalake.runs.lifecycle import abort_run, create_run, publish_run, retract_run, upload_part
from datalake.runs.promotion import ChecksFailedError, promote_run
from datalake.runs.record import (STAGES, STATUSES, answers_latest, get_run, latest_runs, list_runs, output_files,
                                  records, run_record)

__all__ = ["STAGES", "STATUSES", "ChecksFailedError", "abort_run", "answers_latest", "create_run", "delete_alias",
           "get_alias", "get_run", "latest_runs", "list_aliases", "list_runs", "output_files", "promote_run",
           "publish_run", "records", "resolve_run", "retract_run", "run_record", "set_alias", "upload_part"]
