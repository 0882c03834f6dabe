"""Agent backends: `claude` (the real CLI) and `demo` (a scripted stand-in)."""
