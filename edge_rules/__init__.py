"""edge_rules package."""
