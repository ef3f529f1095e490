"""Allow ``python -m deploymentgate``."""

from deploymentgate.cli import main

raise SystemExit(main())
