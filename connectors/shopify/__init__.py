"""Shopify: connector, GraphQL client, mapping and queries, the `[[shops]]` schema, and its
sandbox.

Importing this package imports nothing: `settings` can be read (for the configuration schema)
without loading the `ShopifyAPI` library."""
