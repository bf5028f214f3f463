import sys

from marketsvc.cli import main

sys.exit(main())
