"""Worker labels: what a worker host offers (a GPU, a toolchain, a licence) and what a team's or an agent's runs
need. Defined once here; the settings (GAMMA_WORKER_LABELS), the API, the orchestrator and the database's CHECK
(`gamma_worker_labels_ok`, shared/migrations/110_worker_labels.sql) all follow it, and tests/test_placement.py
proves the CHECK accepts exactly what `problem` accepts.

A run needs the union of its team's and its agent's labels and goes only to a worker that has all of them
(shared/run_queue.py: one Dramatiq queue per label set).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LABEL_PATTERN = "[a-z0-9][a-z0-9-]{0,15}"
# A worker consumes one queue per non-empty subset of its labels (2^n - 1): four labels are 15 queues, each with
# its consumers' database connections (workers/broker.py). A run never needs more than a worker can have.
MAX_LABELS = 4
_LABEL = re.compile(LABEL_PATTERN)


def problem(labels: Iterable[str]) -> str | None:
    """What is wrong with a label list (None when nothing is): a label's syntax, a repeat, too many."""
    labels = list(labels)
    bad = [label for label in labels if not isinstance(label, str) or not _LABEL.fullmatch(label)]
    if bad:
        return (f"not a label: {', '.join(repr(b) for b in bad)} (a label is 1 to 16 of a-z, 0-9 and '-', "
                "starting with a letter or digit)")
    if len(set(labels)) != len(labels):
        return "a label is given twice"
    if len(labels) > MAX_LABELS:
        return f"at most {MAX_LABELS} labels (got {len(labels)})"
    return None


def normalized(labels: Iterable[str]) -> list[str]:
    """Sorted without repeats: the one spelling of a label set (queue names and comparisons depend on it)."""
    return sorted(set(labels))


def parse(text: str) -> list[str]:
    """A comma-separated list (blanks around entries and repeats ignored) → the normalized labels; ValueError
    says why not."""
    labels = normalized(entry.strip() for entry in text.split(",") if entry.strip())
    found = problem(labels)
    if found:
        raise ValueError(found)
    return labels


def describe(labels: Iterable[str]) -> str:
    """`the label gpu` / `the labels gpu, licence`."""
    labels = list(labels)
    return f"the label{'s' if len(labels) != 1 else ''} {', '.join(labels)}"
