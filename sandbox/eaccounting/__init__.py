"""Stand-in for Visma eAccounting (API and identity server in app.py)."""
