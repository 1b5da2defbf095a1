"""The check log as evidence nobody can quietly edit: each check's digest, chained per probe and location
(chain, pure), and the store that keeps larger pieces such as screenshots by their SHA-256 (store, files)."""
