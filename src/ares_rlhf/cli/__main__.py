"""``python -m ares_rlhf.cli``: the ``ares`` command line."""

from ares_rlhf.cli import main

raise SystemExit(main())
