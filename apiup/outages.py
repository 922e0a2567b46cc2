"""Errors of a database, broker or Redis that is briefly unreachable. Work that meets one is
tried again later (its row says what is left to do); it is never shown to the customer as a
failed transfer."""

from __future__ import annotations

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError, OperationalError

OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
