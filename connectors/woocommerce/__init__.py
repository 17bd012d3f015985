"""WooCommerce: connector, REST client, mapping, the `[[shops]]` schema, and its sandbox.

Importing this package imports nothing: `settings` can be read (for the configuration schema)
without loading the `woocommerce` client library."""
