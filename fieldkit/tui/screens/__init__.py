"""One screen per step of the visit."""
