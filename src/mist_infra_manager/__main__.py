"""`python -m mist_infra_manager`: the same command as `mist-infra-manager`."""

import sys

from mist_infra_manager.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
