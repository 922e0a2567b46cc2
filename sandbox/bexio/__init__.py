"""Local stand-in for bexio: its API on api.bexio.com and its identity provider on
auth.bexio.com, on one host."""
