"""`python -m services.cli`: the `pivot` command without its console script (what tests run)."""

import sys

from services.cli.main import main

sys.exit(main())
