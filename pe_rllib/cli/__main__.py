"""``python -m pe_rllib.cli``: the ``pe-rllib`` command."""

import sys

from pe_rllib.cli import main

sys.exit(main())
