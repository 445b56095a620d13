"""Filling holes in photos with a trained generator: windows, pastes, files and export."""
