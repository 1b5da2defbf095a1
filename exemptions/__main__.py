import sys

from exemptions.cli import main

sys.exit(main())
