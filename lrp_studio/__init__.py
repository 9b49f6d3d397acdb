"""LRP Studio."""
