import sys

from driftgate.cli.main import main

sys.exit(main())
