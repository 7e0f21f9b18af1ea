"""Integration tests: real sockets on loopback (HTTP here; Redis and SMTP alongside)."""
