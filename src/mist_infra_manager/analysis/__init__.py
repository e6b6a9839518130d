"""Pure analysis: models, catalog, SLE math, insights, trends. It imports nothing from the other groups."""
