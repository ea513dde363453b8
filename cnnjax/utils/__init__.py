"""Checkpointing, writers, images, preemption and other run plumbing."""
