"""The table of targets from a `bench/run.py` result, as Markdown.

    .venv/bin/python bench/report.py bench/results/bench-100000x14.json [--docs docs/performance.md]

With ``--docs`` the table replaces what sits between the ``bench:targets`` markers of the
page (appended under its own heading when the markers are missing); the rest of the page
is left alone."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

START, END = "<!-- bench:targets:start -->", "<!-- bench:targets:end -->"
HEADING = "## Speed targets (issue 5), measured by make bench"


def _ms(q: dict | None, key: str = "median_ms") -> str:
    return "n/a" if not q else f"{q[key]:.1f} ms" if q[key] >= 10 else f"{q[key]:.2f} ms"


def _ratio(pg: dict | None, ours: dict | None) -> str:
    if not pg or not ours:
        return "not run"
    r = pg["median_ms"] / ours["median_ms"]
    return f"{_ms(pg)}; PostgreSQL / ours = **{r:.2f}** ({'ours faster' if r > 1 else 'PostgreSQL faster'})"


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "**missed**"


def _anon(bulk: dict) -> str:
    anon = bulk.get("workers_anon_peak_sampled_mib")
    return f" (own memory, RssAnon: {max(anon.values()):.0f} MiB)" if anon else ""


def _mrows(x: float) -> str:
    return f"{x / 1e6:.2f}M rows/s"


def rows(res: dict) -> list[tuple[str, str, str, str, str]]:
    q = res.get("queries", {})
    pg = res.get("postgres", {})
    out = []
    q1, pq1 = q.get("q1_json"), pg.get("q1_json")
    ok = q1 and q1["median_ms"] <= 5 and q1["p99_ms"] <= 20 and (not pq1 or q1["median_ms"] <= pq1["median_ms"])
    out.append(("query 1 (one ICP, 14 days raw), JSON, median / p99",
                "<= 5 ms / <= 20 ms, and no slower than PostgreSQL",
                f"{_ms(q1)} / {_ms(q1, 'p99_ms')}", _ratio(pq1, q1), _mark(ok if q1 else None)))
    q2 = q.get("q2_json")
    out.append(("query 2 (one ICP, daily summary, range + side), JSON, median", "<= 8 ms",
                f"{_ms(q2)} (p99 {_ms(q2, 'p99_ms')})", _ratio(pg.get("q2_json"), q2),
                _mark(q2["median_ms"] <= 8 if q2 else None)))
    a, b = q.get("q3_first_json"), q.get("q3_deep_json")
    out.append((f"query 3 (one ICP's history, 100-row page), JSON, median: first / {res.get('q3_depth_rows')} rows deep",
                "<= 10 ms each", f"{_ms(a)} / {_ms(b)}", "not asked",
                _mark(a["median_ms"] <= 10 and b["median_ms"] <= 10 if a and b else None)))
    q4 = q.get("q4_day_arrow")
    out.append(("query 4 (one day by icp_id, buyer_seller), Arrow, median", "<= 150 ms (PostgreSQL expected >= 20x)",
                _ms(q4), _ratio(pg.get("q4_day_arrow"), q4), _mark(q4["median_ms"] <= 150 if q4 else None)))
    bulk = res.get("bulk")
    if bulk:
        # The stream's memory is the workers' resident set sampled while streaming; VmHWM is each
        # worker's lifetime peak, which also covers the runs it received and published before.
        sampled = bulk.get("workers_rss_peak_sampled_mib")
        peak = max((sampled or bulk["workers_vmhwm_mib"]).values())
        shards, dbulk, dshards = (res.get(k) for k in ("bulk_4_shards", "bulk_dictionary", "bulk_4_shards_dictionary"))
        measured = (f"{_mrows(bulk['rows_per_s'])}; 4 shards in parallel {_mrows(shards['rows_per_s']) if shards else 'n/a'}; "
                    f"peak RSS while streaming {peak:.0f} MiB{_anon(bulk)}; "
                    f"lifetime VmHWM {max(bulk['workers_vmhwm_mib'].values()):.0f} MiB")
        met = bulk["rows_per_s"] >= 20e6
        if dbulk:
            met = met and dbulk["rows_per_s"] >= 30e6
            measured += (f". With `dictionary=true`: {_mrows(dbulk['rows_per_s'])}; 4 shards "
                         f"{_mrows(dshards['rows_per_s']) if dshards else 'n/a'}")
        out.append(("bulk 14-day Arrow stream into pyarrow; server peak RSS (largest worker)",
                    ">= 20M rows/s plain, >= 30M with `dictionary=true`, <= 1.5 GB", measured, "not asked",
                    _mark(met and peak <= 1536)))
    ing = res.get("ingest_csv")
    if ing:
        load = pg.get("load", {}).get("raw")
        out.append((f"ingest of the {ing['rows'] / 1e6:.1f}M-row CSV (CLI)", ">= 3M rows/s",
                    f"{_mrows(ing['rows_per_s'])} ({ing['seconds']:.0f} s)",
                    f"COPY + index + analyze {load['load_s']:.0f} s = {_mrows(load['rows_per_s'])}" if load else "not run",
                    _mark(ing["rows_per_s"] >= 3e6)))
    runs = res.get("runs")
    if runs:
        load = pg.get("load", {}).get("output")
        out.append((f"run publication over HTTP (2 runs of {runs[0]['rows'] / 1e6:.1f}M rows, Python client)",
                    ">= 5M rows/s", " / ".join(_mrows(r["rows_per_s"]) for r in runs),
                    f"COPY + indexes of one run {load['load_s']:.0f} s = {_mrows(load['rows_per_s'])}" if load else "not run",
                    _mark(all(r["rows_per_s"] >= 5e6 for r in runs))))
    e = res.get("eiep")
    if e:
        out.append((f"EIEP3 ingest ({e['eiep3_files']} files, {e['eiep3_rows'] / 1e6:.1f}M records, CLI engine call)",
                    ">= 1M rows/s", f"{_mrows(e['eiep3_rows_per_second'])} ({' + '.join(map(str, e['eiep3_seconds_each']))} s)",
                    "not asked", _mark(e["eiep3_rows_per_second"] >= 1e6)))
        out.append((f"change feed of a 1-day revision ({e['change_feed_rows'] / 1e6:.1f}M rows), first JSON page",
                    "< 1 s", f"{e['change_feed_first_page_seconds']:.2f} s (every row streamed: "
                    f"{e['change_feed_all_rows_seconds']:.1f} s)", "not asked",
                    _mark(e["change_feed_first_page_seconds"] < 1)))
    t = res.get("q1_throughput")
    if t:
        out.append(("query 1 throughput, 16 clients (separate process), JSON", ">= 800 req/s",
                    f"{t['req_per_s']:.0f} req/s, p99 {t['p99_ms']:.0f} ms", "not asked",
                    _mark(t["req_per_s"] >= 800 and not t["errors"])))
    large = res.get("large")
    if large and q1:
        lq = large["queries"]["q1_json"]
        ratio = lq["median_ms"] / q1["median_ms"]
        out.append((f"query 1 median at {large['icps'] // 1000}k ICPs vs {res['icps'] // 1000}k", "<= 1.5x",
                    f"{_ms(lq)} = {ratio:.2f}x; bulk {_mrows(large['bulk']['rows_per_s'])} "
                    f"({large['bulk']['rows'] / 1e6:.0f}M rows), peak {max(large['bulk']['workers_vmhwm_mib'].values()):.0f} MiB"
                    + (f"; with `dictionary=true` {_mrows(large['bulk_dictionary']['rows_per_s'])}"
                       if large.get("bulk_dictionary") else ""),
                    "not asked", _mark(ratio <= 1.5)))
    return out


def table(res: dict) -> str:
    from flightside import report_rows

    lines = ["| measure | target | measured | PostgreSQL 15, same run | |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows(res) + report_rows(res)]
    return "\n".join(lines)


def details(res: dict) -> str:
    """Every timed query in both formats, and sizes on disk."""
    q, pg = res.get("queries", {}), res.get("postgres", {})
    lines = ["| query | format | median | p95 | p99 | n | PostgreSQL median (ratio) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, v in q.items():
        base, _, fmt = name.rpartition("_") if name.endswith(("_json", "_arrow")) else (name, "", "json")
        lines.append(f"| {base} | {fmt} | {_ms(v)} | {_ms(v, 'p95_ms')} | {_ms(v, 'p99_ms')} | {v['n']} | "
                     f"{_ratio(pg.get(name), v) if pg.get(name) else ''} |")
    return "\n".join(lines)


def update_docs(page: Path, text: str, heading: str) -> None:
    current = page.read_text() if page.exists() else ""
    block = f"{START}\n{text}\n{END}"
    if START in current and END in current:
        head, _, rest = current.partition(START)
        _, _, tail = rest.partition(END)
        page.write_text(head + block + tail)
    else:
        page.write_text(current.rstrip() + ("\n\n" if current else "") + f"{heading}\n\n{block}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", type=Path)
    ap.add_argument("--docs", type=Path, default=None)
    args = ap.parse_args()
    res = json.loads(args.result.read_text())
    text = table(res) + "\n\n" + details(res)
    if args.docs:
        update_docs(args.docs, text, HEADING)
    print(text)


if __name__ == "__main__":
    main()
