"""Writes of the sync app: what happens to events and transfers."""
