"""Everything that talks to FFmpeg (through PyAV). No other package imports ``av``."""
