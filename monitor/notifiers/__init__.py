"""Notifiers: each a pure payload builder plus a thin async sender."""
