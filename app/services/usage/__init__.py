"""Token usage: each request recorded and billed once, the write-behind queue, reports."""
