"""``mx.sym.contrib`` / ``mx.nd.contrib`` operators (registered as ``_contrib_NAME``)."""
