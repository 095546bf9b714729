"""Search: parameter registry, index extraction, query parsing and criteria evaluation."""
