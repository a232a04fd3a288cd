"""``python -m nbrunner``: the same as the ``nbrunner`` command."""

from nbrunner.cli import main

if __name__ == "__main__":
    main()
