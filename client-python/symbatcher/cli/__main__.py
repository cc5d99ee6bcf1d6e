"""`python -m symbatcher.cli`: the `symbatcher` command."""

import sys

from symbatcher.cli.main import main

sys.exit(main())
