"""The whole-product benchmark (`python -m bench.product`): Parley under load against a raw floor."""
