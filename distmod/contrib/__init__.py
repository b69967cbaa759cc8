"""``mx.contrib``: MXNet's contributed pieces."""
