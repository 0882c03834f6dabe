"""http.client for the processes that must start fast or stay small: `gamma-agent` (every agent call starts it)
and `gamma up`'s launcher (resident as long as the stack runs). Standard library only.

http.client imports ssl when it is itself imported (some 10 ms, 7 MB), for HTTPSConnection, which a plain
http:// request never uses; so for one, `import ssl` is made to fail during that import (a None in sys.modules
does that), and http.client is without HTTPSConnection, as on a Python built without OpenSSL. Such a process
talks to one URL's scheme: an https:// caller imports it with ssl, an http:// one never pays for ssl.
"""

from __future__ import annotations

import sys
from types import ModuleType


def http_client(scheme: str) -> ModuleType:
    """http.client, for requests to URLs of this scheme ("http" or "https")."""
    if scheme == "http" and "http.client" not in sys.modules and "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]
        try:
            import http.client  # noqa: PLC0415
        finally:
            del sys.modules["ssl"]
    import http.client  # noqa: PLC0415

    if scheme == "https" and not hasattr(http.client, "HTTPSConnection"):
        raise RuntimeError("http.client was imported without ssl for an http:// request: it cannot make an "
                           "https:// one")
    return http.client
