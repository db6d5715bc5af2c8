"""Run a command against a throwaway PostgreSQL with pgvector (pgserver, in a temporary folder).

    .venv/bin/python scripts/with_postgres.py -- .venv/bin/assistant eval seeds --check

The command gets ASSISTANT_DATABASE_URL; the server and its folder are removed afterwards.
Its exit status is the command's. Needs `pip install -e '.[test]'` (pgserver).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def main() -> int:
    """Start the server, run the command, stop the server."""
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    import pgserver

    with tempfile.TemporaryDirectory(prefix="assistant-pg-") as folder:
        srv = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            env = {**os.environ, "ASSISTANT_DATABASE_URL": srv.get_uri()}
            return subprocess.run(args, env=env, check=False).returncode
        finally:
            srv.cleanup()


if __name__ == "__main__":
    sys.exit(main())
