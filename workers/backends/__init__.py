"""Agent backends, one module each (see `workers/backend_registry.py`): `claude` (Claude Code), `codex` (OpenAI's
codex CLI) and `demo` (a scripted stand-in); `launch` and `cli_binary` are what they share."""
