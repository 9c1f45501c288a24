"""The bench report: the machine it ran on, the JSON document and its Markdown rendering."""

import os
import platform
from pathlib import Path
from typing import Any

import orjson


GOALS = {  # issue 21's, on this machine at the full sizing: (figure, at least or at most, target)
    "steady_eps": ("pipeline_steady_eps", "at least", 100_000.0),
    "cpu_us_per_event": ("pipeline_cpu_us_per_event", "at most", 20.0),
    "vs_decode_ceiling": ("pipeline_vs_decode_ceiling", "at least", 0.25),
}


def cores() -> int:
    """Return how many cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """Return what the figures were measured on."""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    return {"nproc": cores(), "ram_gib": round(kib / 2**20, 1), "python": platform.python_version(),
            "platform": platform.platform(), "cpu": cpu or platform.processor()}


def ratio(value: float | None, baseline: float | None) -> float | None:
    """Return value / baseline, or None when either is missing."""
    return value / baseline if value is not None and baseline else None


def throughput_figures(ceiling: dict[str, Any], batched: dict[str, Any], naive: dict[str, Any],
                       pipeline: dict[str, Any], anchors: dict[str, Any]) -> dict[str, Any]:
    """Return the top-level throughput figures with their ratios, the goals met or missed, and the details."""
    steady, floor = pipeline["steady_eps"], anchors["storage_floor"]
    figures = {
        "transport_ceiling_eps": ceiling["eps"],
        "faust_naive_eps": naive["eps"],  # context only: no goal is set against it
        "pipeline_eps": pipeline["eps"],
        "pipeline_steady_eps": steady,
        "pipeline_latency_s": pipeline["latency_s"],
        "pipeline_vs_ceiling": ratio(pipeline["eps"], ceiling["eps"]),
        "pipeline_vs_naive": ratio(pipeline["eps"], naive["eps"]),
        "pipeline_vs_batched_ceiling": ratio(pipeline["eps"], batched["eps"]),
        "pipeline_cpu_us_per_event": pipeline["cpu_us_per_event"],
        "decode_ceiling_eps": anchors["decode_ceiling"]["eps"],
        "domain_floor_eps": anchors["domain_floor"]["eps"],
        "domain_floor_cpu_us_per_event": anchors["domain_floor"]["cpu_us_per_event"],
        "passthrough_eps": anchors["passthrough"]["eps"],
        "storage_floor_rows_per_s": floor["rows_per_s"],
        "pipeline_vs_decode_ceiling": ratio(steady, anchors["decode_ceiling"]["eps"]),
        "pipeline_vs_domain_floor": ratio(steady, anchors["domain_floor"]["eps"]),
        "pipeline_vs_passthrough": ratio(steady, anchors["passthrough"]["eps"]),
        "pipeline_cpu_vs_domain_floor": ratio(pipeline["cpu_us_per_event"],
                                              anchors["domain_floor"]["cpu_us_per_event"]),
        "pipeline_seconds_vs_storage_floor": ratio(pipeline["seconds"], floor["seconds"]),
        "throughput": {"transport_ceiling": ceiling, "transport_ceiling_batched": batched,
                       "faust_naive": naive, "pipeline": pipeline, **anchors},
    }
    return {**figures, "goals": goals(figures)}


SHARD_CPU_GOAL = 1.15  # issue 20's: CPU per event with 2 risk workers at most 15 % over 1's


def shard_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the pipeline's runs with 1, 2 and 3 risk workers, and CPU per event with 2 against 1 (issue 20's goal:
    sharding costs almost nothing)."""
    by = {run["risk_shards"]: run for run in runs}
    two = ratio(by[2]["cpu_us_per_event"], by[1]["cpu_us_per_event"])
    return {"runs": runs, "cpu_2_vs_1": two, "cpu_3_vs_1": ratio(by[3]["cpu_us_per_event"], by[1]["cpu_us_per_event"]),
            "goal": {"figure": "cpu_2_vs_1", "bound": "at most", "target": SHARD_CPU_GOAL, "value": two,
                     "met": two is not None and two <= SHARD_CPU_GOAL}}


def goals(figures: dict[str, Any]) -> dict[str, Any]:
    """Return each of issue 21's goals with the figure it is judged on and whether it is met."""
    judged = {}
    for name, (figure, bound, target) in GOALS.items():
        value = figures[figure]
        met = value is not None and (value >= target if bound == "at least" else value <= target)
        judged[name] = {"figure": figure, "bound": bound, "target": target, "value": value, "met": met}
    return judged


def write(out: Path, report: dict[str, Any]) -> None:
    """Write `bench.json` and `bench.md` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    (out / "bench.md").write_text(markdown(report))


def num(value: Any, digits: int = 1) -> str:
    """Format a figure for the table (— when missing)."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def worker_rows(size: dict[str, Any], kind: str, what: str, own: str) -> list[tuple[str, str, str, str]]:
    """Return the rows of what a risk task spends after `what` (a `kind` of the holders figure): laying out its
    messages, and its checkpoint, beside `own` engine CPU."""
    cpu = size[f"{kind}_cpu_ms"]
    return [(f"{what}'s messages laid out as a risk task sends them, CPU ms, {size['holders']:,} holders",
             num(size[f"{kind}_publish_cpu_ms"], 2), f"{own} own CPU ms {num(cpu, 2)}",
             num(ratio(size[f"{kind}_publish_cpu_ms"], cpu), 2)),
            (f"a risk task's checkpoint after {what}, CPU ms ({num(size[f'{kind}_checkpoint_mb'], 1)} MB), "
             f"{size['holders']:,} holders", num(size[f"{kind}_checkpoint_cpu_ms"], 2),
             f"{own} own CPU ms {num(cpu, 2)}", num(ratio(size[f"{kind}_checkpoint_cpu_ms"], cpu), 2))]


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Return (figure, value, baseline, value/baseline) rows of the summary table."""
    t = r["throughput"]
    floor = t["storage_floor"]
    out = [
        ("pipeline events/s, steady state (10 → 90 % of the rows it stored)", num(r["pipeline_steady_eps"]),
         f"decode ceiling {num(r['decode_ceiling_eps'])}", num(r["pipeline_vs_decode_ceiling"], 3)),
        ("pipeline events/s, steady state, vs the domain work alone", num(r["pipeline_steady_eps"]),
         f"domain floor (engine + trackers, one core) {num(r['domain_floor_eps'])}",
         num(r["pipeline_vs_domain_floor"], 3)),
        ("pipeline events/s, steady state, vs decoding once and storing the input", num(r["pipeline_steady_eps"]),
         f"pass-through {num(r['passthrough_eps'])}", num(r["pipeline_vs_passthrough"], 3)),
        ("pipeline events/s, steady state of the input rows alone (the sink, ahead of the workers)",
         num(t["pipeline"]["input_steady_eps"]), f"pass-through {num(r['passthrough_eps'])}",
         num(ratio(t["pipeline"]["input_steady_eps"], r["passthrough_eps"]), 3)),
        ("pipeline CPU µs per event (this process, risk worker, broker)", num(r["pipeline_cpu_us_per_event"]),
         f"domain floor {num(r['domain_floor_cpu_us_per_event'])}", num(r["pipeline_cpu_vs_domain_floor"], 1)),
        (f"pipeline seconds vs storing its {floor['rows']:,} rows", num(t["pipeline"]["seconds"], 2),
         f"storage floor {num(floor['seconds'], 2)} ({num(r['storage_floor_rows_per_s'], 0)} rows/s)",
         num(r["pipeline_seconds_vs_storage_floor"], 1)),
        ("pipeline end-to-end s (last window published → stored)", num(r["pipeline_latency_s"], 2), "—", "—"),
        ("pipeline events/s, first publish to last stored", num(r["pipeline_eps"]),
         f"context, no goal: naive Faust {num(r['faust_naive_eps'])}", num(r["pipeline_vs_naive"], 2)),
        ("pipeline events/s vs transport", num(r["pipeline_eps"]),
         f"raw aiokafka {num(r['transport_ceiling_eps'])}", num(r["pipeline_vs_ceiling"], 3)),
        ("pipeline events/s vs batched transport", num(r["pipeline_eps"]),
         f"raw aiokafka {num(t['transport_ceiling_batched']['eps'])}", num(r["pipeline_vs_batched_ceiling"], 3)),
    ]
    shards = r["risk_shards"]
    for run in shards["runs"]:
        out.append((f"pipeline with {run['risk_shards']} risk worker(s), {run['events']:,} events: steady events/s, "
                    "CPU µs/event", f"{num(run['steady_eps'])}, {num(run['cpu_us_per_event'])}",
                    "1 risk worker" if run["risk_shards"] > 1 else "—",
                    num(shards["cpu_2_vs_1" if run["risk_shards"] == 2 else "cpu_3_vs_1"], 2)
                    if run["risk_shards"] > 1 else "—"))
    for lat in r["tick_to_client_ms"]:
        base = lat["baseline"]
        out.append((f"tick→client ms p50 / p99, {lat['clients']} clients", f"{num(lat['p50'])} / {num(lat['p99'])}",
                    f"direct emit {num(base['p50'])} / {num(base['p99'])}", num(ratio(lat["p99"], base["p99"]), 2)))
    for size in r["remargin_us_per_position"]["per_size"] or []:
        out.append((f"re-margin µs/position, {size['positions']:,} positions", num(size["us_per_position"], 4),
                    f"bare numpy {num(size['baseline_us_per_position'], 4)}",
                    num(ratio(size["us_per_position"], size["baseline_us_per_position"]), 2)))
    for size in r["holders"]["per_size"]:
        out += [(f"risk tick ms, 1 % move, {size['holders']:,} holders × 3 markets ({size['tick_published']:,} "
                 "restated)", num(size["tick_ms"], 2), f"bare numpy {num(size['baseline_ms'], 3)}",
                 num(size["tick_ratio"], 0)),
                (f"funding close ms, {size['holders']:,} holders × 3 markets", num(size["close_ms"], 2),
                 f"bare numpy {num(size['baseline_ms'], 3)}", num(size["close_ratio"], 0)),
                (f"a 1 % move arriving as a funding close begins, ms to its outputs, {size['holders']:,} holders",
                 num(size["tick_during_close_ms"], 2), f"bare numpy {num(size['baseline_ms'], 3)}",
                 num(ratio(size["tick_during_close_ms"], size["baseline_ms"]), 0)),
                (f"risk tick ms, 1 % move after a 15 % fall, {size['holders']:,} holders ({size['warned']:,} warned "
                 f"under a line, {size['tick_after_crash_published']:,} restated)", num(size["tick_after_crash_ms"], 2),
                 f"bare numpy {num(size['baseline_ms'], 3)}",
                 num(ratio(size["tick_after_crash_ms"], size["baseline_ms"]), 0)),
                *worker_rows(size, "tick", "a 1 % move", "the move's"),
                *worker_rows(size, "close", "a paying close", "the close's")]
    k = r["fixed_margin"]
    out += [(f"exact margin in integers µs/holder (`fixed_margin`, {k['holders']:,} holders × 3 markets)",
             num(k["kernel_us_per_holder"], 3), f"bare numpy floats {num(k['numpy_us_per_holder'], 3)}",
             num(k["kernel_vs_numpy"], 1)),
            (f"Decimal `Account.margin` µs/holder ({k['decimal_sample']:,} holders; integers equal: "
             f"{'yes' if k['matches_decimal'] else 'NO'})", num(k["decimal_us_per_holder"], 2),
             f"integer pass {num(k['kernel_us_per_holder'], 3)}", num(k["decimal_vs_kernel"], 0)),
            (f"Decimal `settle_funding` µs/holder ({k['decimal_sample']:,} holders)",
             num(k["decimal_settle_us_per_holder"], 2),
             f"integer `funding_owed` {num(k['kernel_funding_us_per_holder'], 4)}",
             num(k["settle_vs_kernel_funding"], 0))]
    w = r["snapshots"]
    out.append((f"account snapshot JSON from integer columns µs/snapshot ({w['snapshots']:,} a 1 % move publishes at "
                f"{w['holders']:,} holders; bytes equal: {'yes' if w['matches_pydantic'] else 'NO'})",
                num(w["columns_us_per_snapshot"], 3), f"pydantic to_json {num(w['pydantic_us_per_snapshot'], 2)}",
                num(w["pydantic_vs_columns"], 1)))
    m = r["signals_us_per_event"]
    out.append((f"MIKEY rules CPU µs/event (risk engine + markets fold, {m['events']:,} events, {m['signals']:,} "
                "signals)", num(m["us_per_event"], 2), f"rules off {num(m['baseline_us_per_event'], 2)}",
                num(m["ratio"], 3)))
    b = r["books"]
    out += [
        (f"order book update µs (L3, {b['orders']:,} orders)", num(b["update_us"], 2),
         f"dict + SortedDict store {num(b['baseline_update_us'], 2)}", num(b["update_ratio"], 2)),
        (f"order book depth ms, {b['depth_levels']} levels of {b['orders']:,} orders", num(b["depth_ms"], 3),
         f"bare SortedDict read {num(b['baseline_depth_ms'], 3)}", num(b["depth_ratio"], 2)),
        (f"ticket route µs over {b['walk_levels']} levels of {b['walk_venues']} venues", num(b["walk_us"], 1),
         f"bare Decimal sum {num(b['baseline_walk_us'], 1)}", num(b["walk_ratio"], 1)),
    ]
    c, s, a = r["candles_query_ms"], r["sink_rows_per_s"], r["api_rps"]
    out += [
        (f"1h candles query ms over {c['ticks']:,} ticks", num(c["ms"], 2), f"raw GROUP BY {num(c['baseline']['ms'], 2)}",
         num(ratio(c["ms"], c["baseline"]["ms"]), 3)),
        ("sink rows/s (insert_new)", num(s["rows_per_s"]), f"plain insert {num(s['baseline']['rows_per_s'])}",
         num(ratio(s["rows_per_s"], s["baseline"]["rows_per_s"]), 2)),
        (f"exact dedupe ms, {c['dedupe']['ids']:,} ids among {c['dedupe']['stored_rows']:,} rows",
         num(c["dedupe"]["ms"], 2), f"time-span lookup {num(c['dedupe']['baseline']['ms'], 2)}",
         num(ratio(c["dedupe"]["ms"], c["dedupe"]["baseline"]["ms"]), 2)),
        ("GET /api/v1/markets rps", num(a["rps"]), f"bare Starlette {num(a['baseline']['rps'])}",
         num(ratio(a["rps"], a["baseline"]["rps"]), 3)),
    ]
    return out


def issue_goals(r: dict[str, Any]) -> str:
    """Return the sentence on issue 21's goals, each met or missed, and what is context only."""
    judged = "; ".join(f"{g['figure']} {g['bound']} {num(g['target'], 2)} ({'met' if g['met'] else 'missed'}: "
                       f"{num(g['value'], 3)})" for g in r["goals"].values())
    sizing = "" if r["mode"] == "full" else f" (judged at the full sizing; this run is {r['mode']})"
    return (f"Issue 21 goals{sizing}: {judged}. The naive Faust agent (one event a message, nothing decoded) is "
            "context only, no goal.")


def holder_targets(holders: dict[str, Any]) -> str:
    """Return the sentence on the risk engine's targets at their number of holders, if it was measured."""
    target = holders["targets"]
    at = next((s for s in holders["per_size"] if s["holders"] == target["holders"]), None)
    if at is None:
        return f"Risk engine targets at {target['holders']:,} holders: not measured in this mode."
    def judged(figure: str) -> str:
        return f"{num(target[figure])} ms ({'met' if at[figure] <= target[figure] else 'missed'}: {num(at[figure])})"
    return (f"Risk engine targets at {target['holders']:,} holders: a 1 % move at most {judged('tick_ms')}, a funding "
            f"close at most {judged('close_ms')}, a tick arriving during a close out within "
            f"{judged('tick_during_close_ms')}.")


def markdown(r: dict[str, Any]) -> str:
    """Return the report as a Markdown page."""
    m = r["machine"]
    lines = [
        f"# quantdesk bench ({r['mode']})", "",
        f"`{r['command']}` on {m['nproc']} cores, {m['ram_gib']} GiB, Python {m['python']}, {m['cpu']}; "
        f"started {r['started_at']}, took {r['seconds']:.0f} s.", "",
        "| figure | value | baseline (same run) | value / baseline |", "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(r)), "",
    ]
    lags = ", ".join(f"{lat['clients']} clients {num(lat['loop_lag_ms']['p50'])} / {num(lat['loop_lag_ms']['p99'])}"
                     f" / {num(lat['loop_lag_ms']['max'])}" for lat in r["tick_to_client_ms"])
    lines.append(f"Event-loop lag (ms p50 / p99 / max) while tickers were pushed: {lags}.")
    growth = r["remargin_us_per_position"]
    lines.append(f"Re-margin growth exponent: {num(growth['exponent'], 3)}" if growth["exponent"] is not None
                 else f"Re-margin: not measured ({growth.get('reason')})")
    lines.append(issue_goals(r))
    lines.append(holder_targets(r["holders"]))
    g = r["risk_shards"]["goal"]
    lines.append(f"Issue 20's scale-out goal: CPU per event with 2 risk workers at most {num(g['target'], 2)} × 1's "
                 f"({'met' if g['met'] else 'missed'}: {num(g['value'], 3)}).")
    b, target = r["books"], r["books"]["targets"]
    lines.append(f"Order book targets ({b['orders']:,} orders): an update at most {num(target['update_us'])} µs "
                 f"({'met' if b['update_us'] <= target['update_us'] else 'missed'}), a {b['depth_levels']}-level depth "
                 f"at most {num(target['depth_ms'])} ms ({'met' if b['depth_ms'] <= target['depth_ms'] else 'missed'}).")
    if r["candles_query_ms"]["reduced"]:
        lines.append(f"Candles over {r['candles_query_ms']['ticks']:,} ticks, fewer than the full "
                     f"{r['candles_query_ms']['full_size_ticks']:,} (this mode's sizing).")
    return "\n".join(lines) + "\n"
