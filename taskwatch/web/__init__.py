"""Report: the HTTP server (/metrics, probes, status page, lifecycle), its web configuration,
and systemd notifications."""
