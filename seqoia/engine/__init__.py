"""The store-only engine: planner, stage runner, router, leases, reconciler. No broker here."""
