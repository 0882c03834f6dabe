"""What a `gamma-agent` call costs an agent, next to `curl` making the same HTTP request, side by side in one run.

    nice -n 19 .venv/bin/python bench/agent_call.py              (3 runs of 30 calls of each)
    nice -n 19 .venv/bin/python bench/agent_call.py --calls 5 --runs 1      (a quick check)
    ... --shim OLD --output agent_call-before      (another gamma-agent instead, e.g. an older one)

A real gunicorn web (1 gthread worker) on a scratch database, a team whose lead has a started run and its token.
The `gamma-agent` called is the shim every agent gets on its PATH (workers/agent_tools.py writes it), run from a
process with the agent's environment (GAMMA_API_URL, GAMMA_AGENT_TOKEN, GAMMA_RUN_ID); `curl` sends the same
request with the same headers (the Idempotency-Key of an action computed as gamma-agent computes it) and prints
the answer, as gamma-agent does. Two calls, each timed from the start of the process to its exit:
- read: `gamma-agent whoami` and `curl GET /agent/v1/me`;
- action: `gamma-agent status "bench N"` and `curl POST /agent/v1/status` (a new text each time, so each call
  is performed, not replayed).
The four are interleaved, their order alternating, after a few calls of warm-up; a run's figure is the median
(and p90) of its calls, the ratio is gamma-agent's median over curl's. Reported: medians over the runs
(target: ratio <= 5). `python -I -S -c pass` (the interpreter alone) is timed alongside for reference.

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; it is dropped at the end. Results: bench/results/agent_call.json and agent_call.md.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from shared import db  # noqa: E402
from tests.support.processes import start_web  # noqa: E402

CALLS = 30
RUNS = 3
WARMUP = 3
TARGET_RATIO = 5.0
NOTE = "shared machine: other work may run at the same time; the web, PostgreSQL and the calls share these CPUs"
SERIES = ("gamma_read", "curl_read", "gamma_action", "curl_action", "python_floor")


def lead_run() -> tuple[str, str]:
    """A team whose lead has a started run: (run id, its agent token)."""
    from orchestrator.workflows import conversation  # noqa: PLC0415 (after the database is set)
    from tests.support.crew import make_crew, start  # noqa: PLC0415

    crew = make_crew("bench agent calls")
    with db.transaction() as conn:
        conversation.post_user_message(conn, crew.team_id, "Go")
    run, token = start(crew.lead["id"])
    return run["id"], token


class Calls:
    """The commands of one measurement: gamma-agent through its shim, and curl with the same request."""

    def __init__(self, shim: Path, api_url: str, token: str, run_id: str) -> None:
        from workers import agent_cli  # noqa: PLC0415

        self._cli = agent_cli
        self.shim, self.api_url, self.token, self.run_id = shim, api_url, token, run_id
        self.curl = shutil.which("curl") or sys.exit("curl is not installed")
        # The agent's environment: what the executor sets for a run (no proxy variables: gamma-agent ignores them).
        self.env = {"PATH": f"{shim.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": os.environ["HOME"],
                    "LANG": os.environ.get("LANG", "C.UTF-8"), "GAMMA_API_URL": api_url, "GAMMA_AGENT_TOKEN": token,
                    "GAMMA_RUN_ID": run_id, "GAMMA_AGENT_RETRY_SECONDS": "0"}

    def gamma_read(self, n: int) -> list[str]:
        return [str(self.shim), "whoami"]

    def curl_read(self, n: int) -> list[str]:
        return [self.curl, "-sS", "--noproxy", "*", f"{self.api_url}/agent/v1/me",
                "-H", f"Authorization: Bearer {self.token}", "-H", "Accept: application/json"]

    def gamma_action(self, n: int) -> list[str]:
        return [str(self.shim), "status", "bench", "gamma", str(n)]

    def curl_action(self, n: int) -> list[str]:
        body = {"status": f"bench curl {n}"}
        key = self._key("POST", "/status", body)
        return [self.curl, "-sS", "--noproxy", "*", "-X", "POST", f"{self.api_url}/agent/v1/status",
                "-H", f"Authorization: Bearer {self.token}", "-H", "Accept: application/json",
                "-H", "Content-Type: application/json", "-H", f"{self._cli.IDEMPOTENCY_HEADER}: {key}",
                "--data-binary", json.dumps(body)]

    def python_floor(self, n: int) -> list[str]:
        return [sys.executable, "-I", "-S", "-c", "pass"]

    def _key(self, method: str, path: str, body: dict[str, Any]) -> str:
        saved = os.environ.get("GAMMA_RUN_ID")
        os.environ["GAMMA_RUN_ID"] = self.run_id
        try:
            key = self._cli.idempotency_key(method, path, body)
        finally:
            if saved is None:
                del os.environ["GAMMA_RUN_ID"]
            else:
                os.environ["GAMMA_RUN_ID"] = saved
        assert key is not None
        return key

    def timed(self, series: str, n: int) -> float:
        """Milliseconds from starting the process to its exit; the call must succeed with a JSON answer."""
        argv = getattr(self, series)(n)
        started = time.perf_counter()
        done = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise RuntimeError(f"{series} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
        if series != "python_floor":
            answer = json.loads(done.stdout)
            assert isinstance(answer, dict) and "error" not in answer, (series, answer)
        return elapsed


def measure(calls: Calls, count: int, salt: int) -> dict[str, Any]:
    """One run: every series `count` times, interleaved, the order reversed every other round."""
    for n in range(WARMUP):
        for series in SERIES:
            calls.timed(series, salt * 100_000 + 90_000 + n)
    samples: dict[str, list[float]] = {s: [] for s in SERIES}
    for n in range(count):
        order = SERIES if n % 2 == 0 else tuple(reversed(SERIES))
        for series in order:
            samples[series].append(calls.timed(series, salt * 100_000 + n))
    figures = {s: {"median_ms": round(statistics.median(v), 2), "p90_ms": round(common.percentile(sorted(v), 90), 2)}
               for s, v in samples.items()}
    return {**figures,
            "read_ratio": round(figures["gamma_read"]["median_ms"] / figures["curl_read"]["median_ms"], 2),
            "action_ratio": round(figures["gamma_action"]["median_ms"] / figures["curl_action"]["median_ms"], 2),
            "samples_ms": {s: [round(x, 2) for x in v] for s, v in samples.items()}}


def main(argv: list[str] | None = None) -> int:
    options = common.options(__doc__)
    options.add_argument("--calls", type=int, default=CALLS, help=f"calls of each kind per run (default {CALLS})")
    options.add_argument("--runs", type=int, default=RUNS, help=f"runs (default {RUNS})")
    options.add_argument("--shim", type=Path, help="measure this gamma-agent, not the one agents get now")
    options.add_argument("--output", default="agent_call", help="results' file name, without .json/.md")
    args = options.parse_args(argv)
    started = time.monotonic()
    home = tempfile.mkdtemp(prefix="gamma-bench-agent-")
    os.environ["GAMMA_HOME"] = home
    runs: list[dict[str, Any]] = []
    try:
        with common.bench_database("gamma_bench_agent") as url:
            info = common.machine_of(url, NOTE)
            from workers.agent_tools import tools_bin_dir  # noqa: PLC0415 (settings read GAMMA_HOME)

            shim = args.shim.resolve() if args.shim else tools_bin_dir() / "gamma-agent"
            shim_text = shim.read_text()
            with start_web(url, extra_env={"GAMMA_HOME": home}) as web:
                run_id, token = lead_run()
                calls = Calls(shim, web.url, token, run_id)
                for n in range(args.runs):
                    runs.append(measure(calls, args.calls, n))
                    r = runs[-1]
                    print(f"run {n + 1}: read {r['gamma_read']['median_ms']} vs {r['curl_read']['median_ms']} ms "
                          f"(x{r['read_ratio']}), action {r['gamma_action']['median_ms']} vs "
                          f"{r['curl_action']['median_ms']} ms (x{r['action_ratio']})", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    info["load_avg_at_end"] = common.load_average()
    median = {f"{s}_ms": statistics.median(r[s]["median_ms"] for r in runs) for s in SERIES}
    median.update({f"{s}_p90_ms": statistics.median(r[s]["p90_ms"] for r in runs) for s in SERIES})
    median["read_ratio"] = statistics.median(r["read_ratio"] for r in runs)
    median["action_ratio"] = statistics.median(r["action_ratio"] for r in runs)
    report = {
        "benchmark": "agent_call", "machine": info,
        "config": {"calls": args.calls, "runs": args.runs, "warmup": WARMUP, "shim": shim_text,
                   "given_shim": args.shim is not None},
        "targets": {"ratio": TARGET_RATIO}, "median": median, "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
    }
    common.write_results(args.results, args.output, report, summary(report))
    print(summary(report))
    return 0


def summary(report: dict[str, Any]) -> str:
    m, med, target = report["machine"], report["median"], report["targets"]["ratio"]
    config = report["config"]

    def verdict(ratio: float) -> str:
        return common.verdict(ratio <= target)

    lines = [
        "# A gamma-agent call next to curl",
        "",
        common.machine_line(m),
        "",
        f"Each call from the start of its process to its exit, {config['calls']} calls of each kind per run, "
        f"interleaved; medians over {config['runs']} run(s) of each run's median and p90. The gamma-agent measured"
        f"{' (given with --shim)' if config['given_shim'] else ', the shim agents get'}:",
        "",
        "```sh",
        config["shim"].rstrip("\n"),
        "```",
        "",
        "| Call | gamma-agent median / p90 | curl median / p90 | Ratio of medians | Target | |",
        "|---|---|---|---|---|---|",
        f"| read: `whoami` / GET /agent/v1/me | {med['gamma_read_ms']} / {med['gamma_read_p90_ms']} ms "
        f"| {med['curl_read_ms']} / {med['curl_read_p90_ms']} ms | {med['read_ratio']} | ≤ {target:g} "
        f"| {verdict(med['read_ratio'])} |",
        f"| action: `status TEXT` / POST /agent/v1/status | {med['gamma_action_ms']} / "
        f"{med['gamma_action_p90_ms']} ms | {med['curl_action_ms']} / {med['curl_action_p90_ms']} ms "
        f"| {med['action_ratio']} | ≤ {target:g} | {verdict(med['action_ratio'])} |",
        "",
        f"For reference, the interpreter alone (`python -I -S -c pass`): {med['python_floor_ms']} / "
        f"{med['python_floor_p90_ms']} ms.",
        "",
        "| Run | read: gamma-agent / curl ms (ratio) | action: gamma-agent / curl ms (ratio) | python alone ms |",
        "|---|---|---|---|",
    ]
    for n, run in enumerate(report["runs"], 1):
        lines.append(
            f"| {n} | {run['gamma_read']['median_ms']} / {run['curl_read']['median_ms']} ({run['read_ratio']}) "
            f"| {run['gamma_action']['median_ms']} / {run['curl_action']['median_ms']} ({run['action_ratio']}) "
            f"| {run['python_floor']['median_ms']} |")
    return common.finish_summary(lines, report)


if __name__ == "__main__":
    sys.exit(main())
