"""What the admin console's pages show, composed from the feature services."""
