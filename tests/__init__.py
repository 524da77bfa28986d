"""The test suites: unit (pure, seconds), integration (real servers), e2e (the whole stack)."""
