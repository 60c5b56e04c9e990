"""``python -m langsteer.cli`` (and ``accelerate launch -m langsteer.cli``)."""

import sys

from langsteer.cli import main

sys.exit(main())
