"""lexware office (formerly lexoffice): `provider` declares it, `client` holds its calls,
`mapping` its JSON."""
