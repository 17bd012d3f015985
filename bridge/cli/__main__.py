"""`python -m bridge.cli …`, as the service spawns itself."""

import sys

from bridge.cli import app

sys.exit(app())
