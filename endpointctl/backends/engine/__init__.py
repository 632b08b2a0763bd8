"""The Docker engine as shared infrastructure: connecting, labels, environment images, modelcars, registries.

The Docker backend runs instances on it; the Kubernetes backend builds the images its pods run with it. Both
use one builder, so an environment has one digest and one cached image whichever backend asked first.
"""
