"""``python -m dsc_core.data.synthetic OUT -n N [--seed S] [--size HxW] [--mode M]``: see :mod:`.cli`."""

from dsc_core.data.synthetic.cli import main

raise SystemExit(main())
