"""``python -m jwt_guard.cli``: the ``jwt-guard`` command line."""

from jwt_guard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
