"""Take docs/screenshot.png: a team page at work, from a real web and worker running the demo backend.

    .venv/bin/python bench/screenshot.py [--out docs/screenshot.png] [--width 1440 --height 900]

Database: $GAMMA_TEST_DATABASE_URL (an admin URL) if set, else the embedded test server under .gamma-test/pg.
A scratch database is created for the shot and dropped afterwards. Needs Debian's chromium (apt-get install
chromium; fonts-noto-color-emoji makes the agents' emoji render).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.migrate import migrate  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.ui import browser_page, chromium_path  # noqa: E402
from tests.support.workers import start_worker  # noqa: E402

GOAL = (
    "Build a small **checkout page** for the shop: a cart summary, a payment form that validates card details, "
    "and an order confirmation. Keep it accessible and add tests."
)
TASKS = [
    ("Design the checkout layout", "Wireframe the cart summary, payment form and confirmation states.", "design"),
    ("Payment form with validation", "Card number (Luhn), expiry and CVC checks with inline errors.", "frontend"),
    ("Order API endpoint", "POST /orders: validate the cart, reserve stock, return an order id.", "backend"),
    ("End-to-end checkout tests", "Happy path, declined card and empty cart.", "qa"),
]


def _admin_url() -> str:
    url = os.environ.get("GAMMA_TEST_DATABASE_URL")
    if url:
        return url
    from shared.embedded_pg import ensure_running  # noqa: PLC0415

    return ensure_running(REPO / ".gamma-test" / "pg")


def _url_for(admin: str, name: str) -> str:
    """`postgresql://user:pw@host:port/name`, the host percent-encoded when it is a socket directory.

    (The query form `postgresql:///name?host=/dir` is not understood by dramatiq-pg's pool.)
    """
    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(admin).items()}
    auth = quote(info.get("user", ""), safe="")
    if info.get("password"):
        auth += ":" + quote(info["password"], safe="")
    host = quote(info.get("host", ""), safe="")
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{auth}{'@' if auth else ''}{host}{port}/{quote(name, safe='')}"


def _api(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.request(method, base + path, json=body, timeout=30)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response.json()


def populate(base: str) -> str:
    """A blueprint team with a goal from the user and work handed to its members. Returns the team id."""
    blueprints = _api(base, "GET", "/api/blueprints")["blueprints"]
    chosen = next((b for b in blueprints if b["id"] == "web-app"), blueprints[0])
    team = _api(base, "POST", "/api/teams", {
        "name": "Checkout revamp",
        "description": "Rebuild the shop's checkout: payment form, order API, tests and docs.",
        "blueprint_id": chosen["id"],
    })
    _api(base, "POST", f"/api/teams/{team['id']}/messages", {"message": GOAL})
    members = [m for m in team["members"] if not m["is_lead"]]
    for index, (title, description, kind) in enumerate(TASKS):
        assignee = members[index % len(members)]["id"] if members else None
        body = {"title": title, "description": description, "kind": kind}
        if assignee:
            body["assignee"] = assignee
        _api(base, "POST", f"/api/teams/{team['id']}/tasks", body)
    return team["id"]


def shoot(base: str, team_id: str, out: Path, width: int, height: int, settle: float) -> None:
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with browser_page(executable, viewport={"width": width, "height": height}) as (page, errors):
        page.goto(f"{base}/teams/{team_id}")
        page.wait_for_selector("#team-page[data-ready=true]", timeout=20_000)
        time.sleep(settle)
        page.click("#tab-tasks")
        page.mouse.move(0, 0)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        if errors:
            print("browser reported:", *errors, sep="\n  ", file=sys.stderr)
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--settle", type=float, default=7.0, help="seconds of work before the shot")
    args = parser.parse_args()

    admin = _admin_url()
    name = f"gamma_shot_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _url_for(admin, name)
    home = tempfile.mkdtemp(prefix="gamma-shot-")
    env = {"GAMMA_BACKEND": "demo", "GAMMA_HOME": home, "GAMMA_DEMO_PACE": "1.2"}
    os.environ.update(env)
    try:
        migrate(url)
        with start_web(url, extra_env=env) as web, start_worker(url, {**env, "GAMMA_API_URL": web.url}, threads=6):
            team_id = populate(web.url)
            shoot(web.url, team_id, args.out, args.width, args.height, args.settle)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
