import sys

from ctl_core.threads import configure_threads

configure_threads()  # before torch starts: its threads on the cores actually free (ctl_core.threads)

from ctl_core.cli import main  # noqa: E402

sys.exit(main())
