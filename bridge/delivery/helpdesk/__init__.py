"""The helpdesks a document is added to, as a note on the customer's open ticket or
conversation: Zendesk and Intercom, one module each."""
