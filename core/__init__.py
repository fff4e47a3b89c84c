"""Small shared helpers with no product meaning (ARCHITECTURE.md): errors, ..."""
