"""Settings for benchmark runs: development's, with a URLconf that adds a bare 204 view to
compare the webhook against, and no debug bookkeeping (DEBUG keeps every SQL query)."""

from apiup.settings.development import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
