"""The check log as evidence nobody can quietly edit: each check's digest, chained per probe and location."""
