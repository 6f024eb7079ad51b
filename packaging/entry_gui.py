"""The desktop app's executable in the bundle (build.spec): what the installers start."""

import sys

from app.ui.entry import main

if __name__ == "__main__":
    sys.exit(main())
