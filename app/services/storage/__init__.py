"""Storage strategies (StorageStrategyInterface): what they mean, how services consult them."""
