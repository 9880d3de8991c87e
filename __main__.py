"""`python -m citylinks` is the `citylinks` command."""

import sys

from citylinks.cli import main

sys.exit(main())
