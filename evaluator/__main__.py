"""``python -m evaluator``: the same as the ``sandbox`` command."""

import sys

from evaluator.cli import main

sys.exit(main())
