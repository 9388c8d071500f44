"""The model catalogue (table ai_models, routes /api/models): tiers, routing and prices."""
