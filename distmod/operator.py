"""``mx.operator``: operators written in Python (CustomOp, CustomOpProp, register)."""
