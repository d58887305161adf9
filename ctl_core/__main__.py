import sys

from ctl_core.cli import main

sys.exit(main())
