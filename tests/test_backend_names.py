"""The backend names the orchestrator and the web check against are exactly the modules under workers/backends/."""

from shared.backends import BACKEND_NAMES
from workers.backend_registry import DISCOVERED, get_backend


def test_every_known_backend_is_a_module_and_every_module_is_known():
    assert sorted(BACKEND_NAMES) == list(DISCOVERED)
    for name in BACKEND_NAMES:
        assert get_backend(name) is not None
