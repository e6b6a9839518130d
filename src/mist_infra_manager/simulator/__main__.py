"""`python -m mist_infra_manager.simulator`: serve a simulated Mist API on 127.0.0.1."""

import sys

from mist_infra_manager.simulator.mist_simulator import main

if __name__ == "__main__":
    sys.exit(main())
