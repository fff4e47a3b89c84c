"""System signals from lower apps to higher ones, without importing upward.

`emit(team_id, kind, **payload)` records, in the current transaction, the signal for every consumer named in
settings.SIGNAL_CONSUMERS (accounts/handoff.py), which a worker hands on as consumer(team_id, kind, payload).
Kinds in use:

- "attribute_archived" / "attribute_retyped"  payload {"attribute_id", "key"}                   (cdp)
- "module_deleted"                            payload {"module_id"}                             (messaging)
- "template_deleted" / "template_unusable"    payload {"template_id", "reason"}                 (messaging)
- "budget_exhausted"                          payload {"channel_id", "reason"}                  (messaging)

Consumers must be idempotent: a signal may arrive twice.
"""

from . import handoff


def emit(team_id, kind, **payload):
    """Record the signal for every consumer in the current transaction (an accounts.Handoff row each)."""
    handoff.add(team_id, "signal", [{"kind": kind, "payload": payload}])
