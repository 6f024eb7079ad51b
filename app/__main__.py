"""``python -m app`` is the same as ``vmsg``."""

from app.cli import main

raise SystemExit(main())
