"""Mist Infrastructure Manager from a checkout: `python src/main.py` is the `mist-infra-manager` command."""

import sys
from pathlib import Path

# Run from any folder without installing: the package beside this file comes first on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mist_infra_manager.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
