"""``python -m taskwatch``."""

import sys

from taskwatch.cli import main

sys.exit(main())
