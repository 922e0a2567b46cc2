"""Visma eAccounting: `provider` declares it, `client` holds its calls, `mapping` its JSON."""
