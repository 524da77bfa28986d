"""End-to-end tests: the controller and the CLI as processes, on the lab stack."""
