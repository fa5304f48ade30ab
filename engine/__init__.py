"""covenant-monitor: a rules-engine monitor of loan covenants and events of default."""

__version__ = "0.1.0"
