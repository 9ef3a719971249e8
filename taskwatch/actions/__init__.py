"""Act: the executor (caps, fence, journal intent, one call, outcome), the journal, notifications.

Everything destructive taskwatch does goes through :mod:`taskwatch.actions.executor`; nothing is
sent without a durable intent in :mod:`taskwatch.actions.journal` first.
"""
