"""The checkout saga of the article Pivot is built on, as a plan and as an open saga."""
