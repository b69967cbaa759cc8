"""``mx.image``: image decoding and augmentation, ImageIter."""
