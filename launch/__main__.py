"""``python -m launch``: the same as the ``distmod-launch`` command (see ``launch.cli``)."""
import sys

from launch.cli import main

if __name__ == '__main__':
    sys.exit(main())
