"""Measures of generated images: physics (Hillas parameters) and, later, learnt-feature metrics."""
