"""Asset checks and the data checks behind them."""
