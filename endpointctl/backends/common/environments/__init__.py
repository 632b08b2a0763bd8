"""Backend-neutral reading of environment definitions (conda files) into what a builder installs."""
