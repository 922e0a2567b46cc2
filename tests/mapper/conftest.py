"""The mapper over real HTTP: the sandboxes of HubSpot and the accounting systems."""

from tests.sync.conftest import World, world_factory

__all__ = ["World", "world_factory"]
