"""``python -m evaluator``: the same as the ``sandbox`` command."""

from evaluator.cli import console_main

console_main()
