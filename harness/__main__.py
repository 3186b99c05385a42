"""``python -m harness``: the command line (``harness.cli``)."""

from harness.cli import main
from harness.shutdown import exit_now

exit_now(main())
