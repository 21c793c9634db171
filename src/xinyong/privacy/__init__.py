"""Privacy core: the only code that handles raw ID numbers.

Everything else carries a subject's internal id or the blind index of its ID number.
"""
