"""MNIST: find it, check its md5s, load it; the bundled copy lives in core/assets."""
