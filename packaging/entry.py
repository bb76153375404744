"""The frozen binary's entry point: the same `main` as `ollama-sidecar` and `python -m sidecar`."""

import sys

from sidecar.__main__ import main

sys.exit(main())
