"""Stand-in for ZEP (REST in app.py, SOAP in soap.py)."""
