import os
import sys

# grpc's C core logs plain text on stderr; keep it to real problems.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from .server import main

sys.exit(main())
