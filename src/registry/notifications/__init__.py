"""Notifications: webhooks fed by a transactional outbox.

- migrations 0023-0027: `webhooks`, `outbox`, `webhook_deliveries`, and the trigger on `events`
  that copies every notifying fact into the outbox in the transaction that appends it;
- :mod:`.outbox`: the dispatcher's SQL (fan-out, claim, outcome);
- :mod:`.dispatcher`: the background task that delivers, retries and dead-letters;
- :mod:`.signing`: the `Registry-Signature` scheme (for us and for receivers);
- :mod:`.webhooks`: what the HTTP routes do (register, delete, list).
"""
