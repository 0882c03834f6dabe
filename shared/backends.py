"""The agent backends Gamma knows, by name (`agents.backend`, `runs.backend`). Each is one module under
`workers/backends/` (tests/test_backend_names.py proves the two agree); the orchestrator and the web check
names against this list without importing the workers."""

BACKEND_NAMES: tuple[str, ...] = ("claude", "codex", "demo")
