"""``python -m harness``: the command line (``harness.cli.main``)."""

from harness.cli.main import main
from harness.engine.shutdown import exit_now

exit_now(main())
