"""Algorithm runs: their lifecycle (create, upload, publish, retract, abort), the files and
statistics a publish writes, and the coverage, checks, diff and totals of a run."""
