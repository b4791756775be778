"""Entry script of the frozen app: does what the ``seesay`` console script does (app.main:main).

PyInstaller runs this file as ``__main__``. Keeping it apart from app/main.py means ``app.main``
is imported once, as the module it is, in the frozen app as in a source checkout.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # A process started by multiprocessing (spawn: always on Windows and macOS) re-runs this
    # executable; freeze_support() makes it run its task and exit instead of opening a second app.
    multiprocessing.freeze_support()
    from app.main import main

    sys.exit(main())
