"""Which process may act: leader election (standalone, or over a Kubernetes Lease)."""
