"""Stand-in for the lexware office (lexoffice) public API v1: profile, contacts, quotations,
invoices, with its two error formats and its token-bucket rate limit."""
