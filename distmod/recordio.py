"""``mx.recordio``: MXNet's RecordIO files (``.rec``, ``.idx``)."""
