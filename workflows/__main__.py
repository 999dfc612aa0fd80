"""``python -m workflows``: see :mod:`workflows.cli`."""

import sys

from workflows.cli import main

sys.exit(main())
