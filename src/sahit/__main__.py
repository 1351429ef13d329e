"""``python -m sahit`` (and ``torchrun -m sahit``) runs the command line."""

import sys

from .cli import main

sys.exit(main())
