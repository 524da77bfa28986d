"""Unit tests of the pure core and of the service on its fakes; no servers."""
