"""HubSpot stand-in: OAuth, CRM objects, associations, pipelines, rate limits and webhooks."""
