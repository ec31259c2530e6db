"""Posts, reactions and comments: types, reads and writes."""
