"""`python -m symexpr.bench`: the same as `symexpr bench`."""
import sys

from . import main

sys.exit(main())
