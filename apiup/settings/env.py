"""The one place that reads the process environment; every settings module imports from here."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Files the embedded default keeps (database, broker, cache, locks, limits, breakers).
VAR_DIR = Path(env.str("APIUP_VAR_DIR", default=str(BASE_DIR / "var")))

# The embedded default (SQLite, file-system broker, file cache) is chosen by the absence
# of these two variables, so a fresh checkout runs without any server.
DATABASE_URL: str = env.str("DATABASE_URL", default="")
REDIS_URL: str = env.str("REDIS_URL", default="")
