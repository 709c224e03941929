"""Algorithm runs: their lifecycle (create, upload, publish, retract, abort), the files and
statistics a publish writes, and the coverage, checks, diff and totals of a run."""
from datalake.runs.lifecycle import abort_run, create_run, publish_run, retract_run, upload_part
from datalake.runs.record import STATUSES, get_run, list_runs, output_files, records, run_record

__all__ = ["STATUSES", "abort_run", "create_run", "get_run", "list_runs", "output_files", "publish_run", "records",
           "retract_run", "run_record", "upload_part"]
