"""Benchmarks and soaks: runnable by one command each, reporting figures from one run."""
