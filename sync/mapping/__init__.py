"""The tenant's data mapping: for each field of the accounting system, where its value comes
from (a HubSpot property, a constant, a template, a lookup table, or the product's own rule),
versioned, checked against the vendor's spec, and previewed without sending."""
