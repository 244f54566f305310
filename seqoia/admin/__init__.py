"""Admin services over the store: status, reprocess, retry, lineage, gc, audit."""
