"""What end-to-end tests ask of a team through a test stack: its tasks by assignee, and when it is quiet."""

from __future__ import annotations

from tests.support import polling
from tests.support.stack import Stack


def tasks_of(stack: Stack, team_id: str) -> dict[str, dict]:
    listed = stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]
    return {t["assignee"]["name"]: stack.api("GET", f"/api/tasks/{t['id']}").json() for t in listed}


def quiet(stack: Stack, team_id: str, wakes: int) -> None:
    """Once `wakes` wake runs ended and nothing is queued or running."""
    def settled():
        with stack.connect() as conn:
            counts = conn.execute(
                "SELECT count(*) FILTER (WHERE reason = 'wake' AND state NOT IN ('queued', 'running')) AS woke,"
                " count(*) FILTER (WHERE state IN ('queued', 'running')) AS active FROM runs WHERE team_id = %s",
                (team_id,)).fetchone()
            checking = conn.execute("SELECT count(*) AS n FROM merge_checks WHERE team_id = %s"
                                    " AND state IN ('queued', 'running')", (team_id,)).fetchone()["n"]
        return counts["woke"] >= wakes and counts["active"] == 0 and checking == 0
    polling.wait_for(settled, timeout=240, interval=0.2,
                     what=f"{wakes} wake(s) and a quiet team (no run, no merge check)")
