"""The HotSync language: grammar loading, parse tree to model."""
