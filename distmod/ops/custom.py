"""``Custom``: operators written in Python (``mx.operator.CustomOp``) as registry entries."""
