"""Live figures: what an open dashboard polls to learn that calls changed."""
