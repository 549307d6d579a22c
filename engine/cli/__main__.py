"""`python -m engine.cli …` runs the `cnnlab` command without the console script installed."""

from engine.cli import main

raise SystemExit(main())
