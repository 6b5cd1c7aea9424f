"""JSON Schemas shipped with Pingyi (a package so the files install with it)."""
