"""Box as a snapshot store: the client (BoxApi), its auth, values and chunked uploads, and the format on Box (BoxStore)."""
