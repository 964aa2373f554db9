"""``python -m dicomweb_cli ...``: see ``dicomweb_cli.cli``."""

import sys

from dicomweb_cli.cli import main

sys.exit(main())
