"""Images without a daemon: OCI layouts written from tar layers, pushed with the distribution API."""
