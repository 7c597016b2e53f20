"""The report: figures, sections, and ``reproduce``/``plot``."""
