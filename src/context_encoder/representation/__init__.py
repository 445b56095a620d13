"""Reusing what the encoder learned (Sec. 5.2): feature extraction and probes."""
