"""Persistence: SQLModel tables, repositories, the credit ledger, the encrypted blob store, migrations."""
