"""People: users, profiles (and, with the people issue, friends and suggestions)."""
