"""The embedded process backend: a per-data-directory agent supervises scoring-host processes on this machine."""
