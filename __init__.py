"""citylinks: an open GraphQL API for cross-border city partnerships."""
