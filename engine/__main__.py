"""`python -m engine` runs the covenant-monitor command."""

import sys

from .cli import main

sys.exit(main())
