"""Rollout benchmark of the process backend."""
