"""The bulk stream alone against an existing lake: every raw read of a window over HTTP as
Arrow into pyarrow through the project's client, whole and (optionally) as parallel shards,
with the service's 2 workers and their peak memory. A quick check between full `make bench`
runs.

    .venv/bin/python bench/bulk.py LAKE [--start 2018-06-01 --end 2018-06-14] [--shards 4]"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpside  # noqa: E402
from httpside import Service, lake_window_parser  # noqa: E402



def main() -> None:
    ap = lake_window_parser()
    ap.add_argument("--shards", type=int, nargs="*", default=[1], help="shard counts to run, e.g. 1 4")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dictionary", choices=["off", "on", "both"], default="off",
                    help="ask for icp_id and direction as dictionaries (both: alternate plain and dictionary)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meterlake-bulk-"))
    service = Service(args.lake, workers=2, log=work / "service.log")
    result: dict = {"load_before": os.getloadavg()}
    try:
        service.wait_ready()
        modes = {"off": [False], "on": [True], "both": [False, True]}[args.dictionary]
        for n in args.shards:
            for _ in range(args.repeat):
                for dictionary in modes:
                    key = f"shards_{n}" + ("_dictionary" if dictionary else "")
                    result.setdefault(key, []).append(httpside.bulk(service, args.start, args.end, shards=n,
                                                                    dictionary=dictionary))
    finally:
        service.stop()
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
