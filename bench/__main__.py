"""`python -m bench`: the whole-product benchmark (see bench/README.md)."""

import asyncio
import sys

from bench.product.__main__ import main

sys.exit(asyncio.run(main()))
