"""rnnexp: a research harness for how plain recurrent networks learn binary addition."""

__version__ = "0.1.0"
