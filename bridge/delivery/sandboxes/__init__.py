"""Local servers speaking each channel service's real HTTP API (Twilio, Zendesk, Intercom),
like the platform sandboxes: the tests and `quittance demo` reach them instead of the
internet."""
