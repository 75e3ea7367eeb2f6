// Placeholder: WindowTable lands with its issue.
