"""What a user sees: terminal tables and progress, plots, the judge card, exports, the cost."""
