"""One router per resource; each handler parses, calls the service, shapes the answer."""
