"""One router per resource (the requester's convention)."""
