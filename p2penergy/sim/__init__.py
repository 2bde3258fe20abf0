"""Community simulation: households, strategies, the trading-day runner and its report."""
