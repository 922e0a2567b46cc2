"""ZEP (project time tracking): declaration, REST and SOAP calls, mapping."""
