"""Request and response models of the API (the design's shapes, with examples)."""
