"""The local stack: restate-server from npm, the sandboxes, the service and the approval page, by pid."""
