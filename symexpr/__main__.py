"""`python -m symexpr ...`: the same command line as the `symexpr` console script."""
import sys

from .cli import main

sys.exit(main())
