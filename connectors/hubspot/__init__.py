"""HubSpot, the CRM the deals come from: `provider` declares it, `client` holds its calls,
`mapping` its JSON."""
