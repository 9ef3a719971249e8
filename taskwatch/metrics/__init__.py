"""Report: the Prometheus metrics (definitions, scrape-time collectors, bounded label values)."""
