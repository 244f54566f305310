"""The event intake: S3 event notifications in every real shape, and the HTTP webhook."""
