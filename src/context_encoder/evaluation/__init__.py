"""Scoring inpainting like the paper's Table 1: protocols, methods, baselines, metrics, reports."""
