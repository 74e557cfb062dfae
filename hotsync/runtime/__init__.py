"""What runs from the compiled plan: sync, slave upkeep, promotion."""
