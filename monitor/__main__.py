"""``python -m monitor``: the same CLI as the ``monitor`` console script."""

from monitor.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
