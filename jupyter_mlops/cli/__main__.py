"""``python -m jupyter_mlops.cli``, as ``jupyter mlops``."""
import sys

from . import main

sys.exit(main())
