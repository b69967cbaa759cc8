"""What the AMP lists share: the list of "every other operator", from distmod's registry.

MXNet 1.9.1 files each of its ~900 operators under one list per target type.  distmod writes
out the lists that decide a conversion (low precision, float32, widest type, conditional) and
derives the remaining one (float16: the operators that run in either type; bfloat16: the
float32 ones) from the operators distmod registers, less those MXNet leaves in no list.
"""


def every_other(*lists, unlisted=()):
    """Sorted names of registered operators (canonical names and aliases) in none of
    ``lists`` and not in ``unlisted``."""
    from ....ops import all_names
    taken = set(unlisted)
    for lst in lists:
        taken.update(item[0] if isinstance(item, tuple) else item for item in lst)
    return sorted(n for n in all_names() if n not in taken)
