"""Pure normaliser: any source item in, advisory records out."""
