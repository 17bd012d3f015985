"""HTTP servers that speak each platform's real API contract, for the demo and the tests."""
