import sys

from microlearn.cli import main

sys.exit(main())
