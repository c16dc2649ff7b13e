"""The web page's side of the chat: read-only pages over the Control API."""
