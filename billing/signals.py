"""What billing announces to the layers above it, which it may not import (import-linter)."""

from django.dispatch import Signal

# Sent with `tenant` when a subscription enters its trial or is paid (billing.selectors.
# TRANSFERRING_STATUSES) after a state in which transfers were paused. It is sent inside the
# transaction that saves the subscription, so a receiver's writes commit or roll back with it
# (and a failing receiver makes Stripe deliver the event again); work that must wait for the
# commit is the receiver's to defer with transaction.on_commit.
subscription_activated = Signal()
