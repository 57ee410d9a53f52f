"""One widget per module; screens compose them."""
