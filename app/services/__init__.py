"""Service classes: the rules of the gateway. They get their collaborators from create_app."""
