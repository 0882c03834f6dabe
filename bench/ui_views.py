"""How the heavy browser views behave with a lot in them: the run view with a run of 5,000 events and the trace
page with 10,000 — in Debian's Chromium against a real gunicorn.

    .venv/bin/python bench/ui_views.py [--runs 3]

For each view and repetition, in a fresh page: the time from navigation until the view says it is ready (all
of the run's events drawn; the trace's first page drawn), the longest main-thread task while it loads (a
PerformanceObserver of `longtask`: what freezes scrolling and typing), the sum of long tasks, and the worst frame
while the list is scrolled from top to bottom in 20 steps. Medians are reported with the load average.

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; dropped at the end. Results: bench/results/ui_views.json and ui_views.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from shared import events  # noqa: E402
from shared.events import NewEvent  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.ui import launch_browser, open_page, require_chromium  # noqa: E402

RUN_EVENTS = 5_000
TRACE_EVENTS = 10_000
LONG_TASKS = """
window.longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(e.duration); })
  .observe({type: 'longtask', buffered: true});
"""
SCROLL = """async (selector) => {
  const box = document.querySelector(selector);
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  let worst = 0;
  box.scrollTop = 0;
  await frame();
  for (let step = 1; step <= 20; step += 1) {
    const before = performance.now();
    box.scrollTop = (box.scrollHeight - box.clientHeight) * step / 20;
    await frame();
    await frame();
    worst = Math.max(worst, performance.now() - before);
  }
  return worst;
}"""


def _populate(base: str) -> tuple[str, str]:
    """A team whose lead has one run of RUN_EVENTS events, among TRACE_EVENTS events in all. Returns (team, run)."""
    team = requests.post(f"{base}/api/teams", json={"name": "Bench views"}, timeout=30).json()
    lead = team["members"][0]
    requests.post(f"{base}/api/teams/{team['id']}/messages", json={"message": "a long run"}, timeout=30)
    from tests.support.crew import start  # noqa: PLC0415 - needs the scratch database set first

    run, _ = start(lead["id"])
    ids = {"agent_id": lead["id"], "run_id": run["id"]}
    texts = [NewEvent("agent.text", team["id"], {"text": f"step {n} of the long run"}, **ids)
             for n in range(RUN_EVENTS)]
    for start_at in range(0, len(texts), 2_500):
        events.emit(texts[start_at:start_at + 2_500])
    rest = [NewEvent("agent.text", team["id"], {"text": f"other {n}"}, agent_id=lead["id"])
            for n in range(TRACE_EVENTS - RUN_EVENTS)]
    for start_at in range(0, len(rest), 2_500):
        events.emit(rest[start_at:start_at + 2_500])
    return team["id"], run["id"]


def _measure(browser: Any, url: str, ready: str, scroller: str) -> dict[str, float]:
    with open_page(browser) as (page, _errors):
        page.add_init_script(LONG_TASKS)
        page.goto(url)
        page.wait_for_selector(ready, timeout=300_000)
        loaded = page.evaluate("performance.now()")
        tasks = page.evaluate("window.longTasks")
        worst_frame = page.evaluate(SCROLL, scroller)
    return {"ready_ms": round(loaded, 1), "longest_task_ms": round(max(tasks, default=0.0), 1),
            "long_tasks_total_ms": round(sum(tasks), 1), "worst_scroll_frame_ms": round(worst_frame, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    samples: dict[str, list[dict[str, float]]] = {"run view (5,000 events)": [], "trace page (10,000 events)": []}
    with scratch_database("gamma_bench", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url, \
            start_web(url, extra_env={"GAMMA_BACKEND": "demo"}) as web, launch_browser(require_chromium()) as browser:
        team_id, run_id = _populate(web.url)
        for _ in range(args.runs):
            samples["run view (5,000 events)"].append(_measure(
                browser, f"{web.url}/runs/{run_id}", "#run-page[data-ready=true]", "#run-trace"))
            samples["trace page (10,000 events)"].append(_measure(
                browser, f"{web.url}/trace?team_id={team_id}", "#trace-list[aria-busy=false]", "#trace-list"))
    medians = {view: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
               for view, runs in samples.items()}
    result = {"date": datetime.now().isoformat(timespec="seconds"), "runs": args.runs, "cpus": os.cpu_count(),
              "load_avg_at_start": load_start, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
              "medians": medians, "samples": samples}
    out = REPO / "bench" / "results"
    (out / "ui_views.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Heavy browser views ({result['date']})", "",
             f"Debian's Chromium, headless, against one gunicorn; {args.runs} runs each, medians; {os.cpu_count()} "
             f"CPUs, load average {load_start} at start and {result['load_avg_at_end']} at the end.", "",
             "| view | ready | longest task | long tasks in all | worst scroll frame |", "|---|---|---|---|---|"]
    for view, m in medians.items():
        lines.append(f"| {view} | {m['ready_ms']:.0f} ms | {m['longest_task_ms']:.0f} ms | "
                     f"{m['long_tasks_total_ms']:.0f} ms | {m['worst_scroll_frame_ms']:.0f} ms |")
    (out / "ui_views.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
