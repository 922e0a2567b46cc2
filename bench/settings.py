"""Settings for benchmark runs: development's, with a URLconf that adds a bare 204 view to
compare the webhook against, and no debug bookkeeping (DEBUG keeps every SQL query)."""

import os

from apiup.settings.development import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"

# Where the lexware office sandbox of a document run publishes its webhook key. The product
# reads a vendor's second host only from VENDOR_API_URLS["lexoffice_keys"], which no
# <KEY>_API_URL variable can name (the key may not hold an underscore).
if os.environ.get("BENCH_LEXOFFICE_KEYS_URL"):
    VENDOR_API_URLS["lexoffice_keys"] = os.environ["BENCH_LEXOFFICE_KEYS_URL"]  # noqa: F405
