"""The sections of the operator's page, each filled from the engine call the JSON API makes for
the same answer (runs: ``runs.list_runs``; a diff: ``run_diff`` and ``run_diff_by_date``;
completeness: ``reads_quality``; ingests: the lake's ingest records): the page formats and
draws the figures, and computes none."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from datalake import runs
from datalake.errors import MeterlakeError
from datalake.lake import Lake
from datalake.raw.quality import reads_quality
from datalake.runs.aliases import list_aliases
from datalake.runs.diff import run_diff, run_diff_by_date
from datalake.runs.record import is_candidate

from . import html as h
from .charts import SHARE_AXIS, Bar, bar_chart, symmetric_axis

DIFFABLE = ("published", "retracted")
INGESTS_SHOWN = 100
QUALITY_DAYS = 31             # the default completeness window: up to the newest raw date
CHANGES_SHOWN = 10


def overview(lake: Lake, query: Mapping[str, str]) -> str:
    """The page body: runs, the diff of two, ingests and completeness, each section on its own
    (a question one refuses leaves the others as they are)."""
    records = runs.list_runs(lake)
    nav = ('<nav><a href="#runs">Runs</a> <a href="#diff">Diff</a> <a href="#ingests">Ingests</a> '
           '<a href="#quality">Completeness</a></nav>')
    return nav + runs_section(records, list_aliases(lake)) + diff_section(lake, records, query) + ingests_section(lake) \
        + quality_section(lake, query)


# -- runs ----------------------------------------------------------------------------------

def stage_of(record: Mapping) -> str:
    """A published (or retracted) run's stage: ``candidate``, or ``latest`` (records published
    before stages existed have none); nothing before publish."""
    if record["status"] not in DIFFABLE:
        return ""
    return "candidate" if is_candidate(record) else "latest"


def runs_section(records: list[dict], aliases: list[dict]) -> str:
    """The runs, newest first, each with the aliases that point at it."""
    named: dict[str, list[str]] = {}
    for a in aliases:
        named.setdefault(a["run_id"], []).append(a["name"])
    rows = []
    for r in reversed(records):  # newest first
        aliases_html = "".join(f'<span class="alias">{h.esc(a)}</span>' for a in named.get(r["run_id"], []))
        rows.append(h.row([
            h.cell(r["run_id"], "run"), h.cell(r["status"], f"status status-{r['status']}"),
            h.cell(stage_of(r), "stage"), h.cell(None, "aliases", raw=aliases_html),
            h.cell(f"{r['start']}..{r['end']}", "window"), h.cell(r.get("algorithm"), "algorithm"),
            h.cell(r.get("version"), "version"), h.cell(r.get("raw_as_of"), "raw-as-of"),
            h.cell(r.get("rows"), "rows", numeric=True), h.cell(r.get("icps"), "icps", numeric=True),
            h.cell(r.get("published_at"), "published-at"),
        ], {"data-run": r["run_id"], "data-status": r["status"]}))
    body = h.table("runs-table", ["run", "status", "stage", "aliases", "window", "algorithm", "version",
                                  "raw as of", "rows", "ICPs", "published at"], rows, empty="no runs yet")
    return h.section("runs", f"Runs ({len(records):,})", body)


# -- the diff of two runs ------------------------------------------------------------------

def default_pair(records: list[dict]) -> tuple[str | None, str | None]:
    """The two runs published last, newest first: published ones before retracted ones (None
    where there are fewer)."""
    ordered = sorted((r for r in records if r["status"] in DIFFABLE),
                     key=lambda r: (r["status"] == "published", r.get("publish_seq") or 0), reverse=True)
    ids = [r["run_id"] for r in ordered]
    return (ids[0] if ids else None), (ids[1] if len(ids) > 1 else None)


def diff_section(lake: Lake, records: list[dict], query: Mapping[str, str]) -> str:
    diffable = [r for r in reversed(records) if r["status"] in DIFFABLE]
    if len(diffable) < 2:
        return h.section("diff", "Diff of two runs",
                         '<p class="empty">a diff needs two published (or retracted) runs</p>')
    first, second = default_pair(records)
    run, against = query.get("run") or first, query.get("against") or second
    options = [(r["run_id"], f"{r['run_id']} ({r['status']}, {r['start']}..{r['end']})") for r in diffable]
    pick = f'{h.select("run", options, run, "run")} {h.select("against", options, against, "against")}'
    form = h.choose("diff", pick, "Compare", {k: query.get(k) for k in ("start", "end")})
    try:
        by_date = run_diff_by_date(lake, run, against).to_pylist()
        diff = run_diff(lake, run, against, limit=CHANGES_SHOWN)
    except MeterlakeError as e:
        return h.section("diff", "Diff of two runs", form + h.error(e.message))
    series = sorted({r["buyer_seller"] for r in by_date})
    groups: dict[str, list[Bar]] = {}
    for r in by_date:
        day = r["read_date"].isoformat()
        groups.setdefault(day, []).append(Bar(
            r["buyer_seller"], float(r["difference"]),
            f"{day} {r['buyer_seller']}: {r['difference']} ({r['run_total']} against {r['against_total']}; "
            f"{r['changed']} changed, {r['added']} added, {r['removed']} removed)",
            {"data-difference": r["difference"], "data-run-total": r["run_total"],
             "data-against-total": r["against_total"], "data-changed": r["changed"], "data-added": r["added"],
             "data-removed": r["removed"], "data-unchanged": r["unchanged"]}))
    largest = max((abs(float(r["difference"])) for r in by_date), default=0.0)
    chart = bar_chart("diff-chart", list(groups.items()), series, symmetric_axis(largest),
                      label=f"{run} minus {against} by date and side")
    head = (f'<p class="headline" id="diff-headline"><strong>{h.esc(run)}</strong> against '
            f'<strong>{h.esc(against)}</strong> over {diff.start}..{diff.end}: difference by date '
            '(run minus against), by buyer_seller side</p>')
    sides = h.table("diff-sides", ["side", "run total", "against total", "difference", "added", "removed",
                                   "changed", "unchanged"], [
        h.row([h.cell(s["buyer_seller"], "side"), *(h.cell(s[k], k.replace("_", "-"), numeric=True) for k in (
            "run_total", "against_total", "difference", "added", "removed", "changed", "unchanged"))],
              {"data-side": s["buyer_seller"]}) for s in diff.sides.to_pylist()], caption="totals by side")
    dates = h.table("diff-dates", ["date", "side", "run total", "against total", "difference", "added", "removed",
                                   "changed", "unchanged"], [
        h.row([h.cell(r["read_date"], "date"), h.cell(r["buyer_seller"], "side"),
               *(h.cell(r[k], k.replace("_", "-"), numeric=True) for k in (
                   "run_total", "against_total", "difference", "added", "removed", "changed", "unchanged"))],
              {"data-date": r["read_date"].isoformat(), "data-side": r["buyer_seller"]}) for r in by_date])
    changes = h.table("diff-changes", ["ICP", "date", "side", "change", "run", "against", "difference"], [
        h.row([h.cell(c["icp_id"], "icp"), h.cell(c["read_date"], "date"), h.cell(c["buyer_seller"], "side"),
               h.cell(c["change"], "change"), h.cell(c["run_amount"], "run-amount", numeric=True),
               h.cell(c["against_amount"], "against-amount", numeric=True),
               h.cell(c["difference"], "difference", numeric=True)]) for c in diff.changes.to_pylist()],
        caption=f"the largest changes (at most {CHANGES_SHOWN})", empty="no cell differs")
    body = (form + head + chart + sides + f"<details><summary>by date</summary>{dates}</details>" + changes)
    return h.section("diff", "Diff of two runs", body)


# -- ingests -------------------------------------------------------------------------------

def ingests_section(lake: Lake) -> str:
    records = lake.ingests()
    shown = records[::-1][:INGESTS_SHOWN]  # newest first
    rows = []
    for r in shown:
        counts, source, dates = r.get("rows") or {}, r.get("source") or {}, r.get("dates") or []
        span = "" if not dates else dates[0] if dates[0] == dates[-1] else f"{dates[0]}..{dates[-1]}"
        rows.append(h.row([
            h.cell(r["ingest_id"], "ingest"), h.cell(str(r.get("committed_at", "")).replace("+00:00", "Z"),
                                                     "committed-at"),
            h.cell(r.get("actor"), "actor"), h.cell(source.get("name"), "source"),
            h.cell(source.get("format"), "format"),
            *(h.cell(counts.get(k), cls, numeric=True) for k, cls in (
                ("read", "rows-read"), ("new", "rows-new"), ("revised", "rows-revised"),
                ("unchanged", "rows-unchanged"), ("rejected", "rows-rejected"), ("stored", "rows-stored"))),
            h.cell(span, "dates"), h.cell(r.get("rejects_file"), "rejects-file"),
        ], {"data-ingest": r["ingest_id"]}))
    more = (f'<p class="note">the newest {INGESTS_SHOWN:,} of {len(records):,} ingests</p>'
            if len(records) > INGESTS_SHOWN else "")
    body = h.table("ingests-table", ["ingest", "committed at (UTC)", "by", "source", "format", "rows read", "new",
                                     "revised", "unchanged", "rejected", "stored", "dates", "rejects file"],
                   rows, empty="no ingests yet") + more
    return h.section("ingests", f"Ingests ({len(records):,})", body)


# -- completeness --------------------------------------------------------------------------

def default_window(lake: Lake) -> tuple[dt.date, dt.date] | None:
    """The last ``QUALITY_DAYS`` dates up to the newest date with raw reads (None: no reads)."""
    days = [f.read_date for f in lake.raw_files()]
    if not days:
        return None
    newest = max(days)
    return max(min(days), newest - dt.timedelta(days=QUALITY_DAYS - 1)), newest


def quality_section(lake: Lake, query: Mapping[str, str]) -> str:
    window = default_window(lake)
    start = query.get("start") or (window[0].isoformat() if window else None)
    end = query.get("end") or (window[1].isoformat() if window else None)
    title = "Completeness of the raw reads"
    if start is None or end is None:
        return h.section("quality", title, '<p class="empty">no raw reads yet</p>')
    form = h.choose("quality", f'{h.date_input("start", start, "from")} {h.date_input("end", end, "to")}',
                    "Show", {k: query.get(k) for k in ("run", "against")})
    try:
        report = reads_quality(lake, start, end).to_pylist()
    except MeterlakeError as e:
        return h.section("quality", title, form + h.error(e.message))
    series = [d for d in ("X", "I") if any(r["energy_flow_direction"] == d for r in report)]
    groups: dict[str, list[Bar]] = {}
    for r in report:
        day, d = r["read_date"].isoformat(), r["energy_flow_direction"]
        groups.setdefault(day, []).append(Bar(
            d, r["icps_complete"] / r["icps"] if r["icps"] else 0.0,
            f"{day} {d}: {r['icps_complete']:,} of {r['icps']:,} ICPs complete ({r['icps_short']:,} short, "
            f"{r['missing_intervals']:,} intervals missing)",
            {"data-complete": r["icps_complete"], "data-icps": r["icps"], "data-short": r["icps_short"],
             "data-missing": r["missing_intervals"]}))
    chart = bar_chart("quality-chart", list(groups.items()), series, SHARE_AXIS,
                      label="ICPs with every interval of the date, as a share of the ICPs, by date and direction")
    head = (f'<p class="headline">{h.esc(start)}..{h.esc(end)}: the ICPs with every interval of the date, as a '
            'share of the ICPs with reads in that direction in the range (X extraction, I injection)</p>')
    rows = [h.row([h.cell(r["read_date"], "date"), h.cell(r["energy_flow_direction"], "direction"),
                   *(h.cell(r[k], k.replace("_", "-"), numeric=True) for k in (
                       "expected_intervals", "icps", "icps_complete", "icps_short", "present_intervals",
                       "missing_intervals", "revised_reads")), h.cell(r["latest_ingest"], "latest-ingest")],
                  {"data-date": r["read_date"].isoformat(), "data-direction": r["energy_flow_direction"]})
            for r in report]
    detail = h.table("quality-table", ["date", "direction", "expected", "ICPs", "complete", "short", "present",
                                       "missing", "revised", "latest ingest"], rows, empty="no dates")
    return h.section("quality", title, form + head + chart + f"<details><summary>by date</summary>{detail}"
                                                             "</details>")
