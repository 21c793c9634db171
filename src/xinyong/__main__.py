"""``python -m xinyong …``: the same CLI as the ``xinyong`` console script (for a checkout run without
installing it, or a virtualenv whose scripts are not on the PATH)."""

from xinyong.cli import main

if __name__ == "__main__":
    main()
