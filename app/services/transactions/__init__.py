"""Transactions (TransactionInterface): batches, and staged transactions committed as one."""
