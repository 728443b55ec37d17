"""portal: Wi-Fi hotspot billing for MikroTik routers, paid with M-Pesa."""

import sys

__version__ = "0.1.0"

# httpx imports its own command line when rich and click are installed (they are, for uvicorn and
# litestar): rich and pygments, about a sixth of every start of `portal`, for a command portal never
# runs. A None in sys.modules makes that import fail, and httpx goes on without it.
sys.modules.setdefault("httpx._main", None)
