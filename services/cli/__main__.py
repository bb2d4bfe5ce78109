"""`python -m pivot.services.cli`: the `pivot` command without its console script (what tests run)."""

import sys

from pivot.services.cli.main import main

sys.exit(main())
