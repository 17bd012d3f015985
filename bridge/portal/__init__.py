"""The customer's side: portal pages, signed links, satisfaction survey."""
