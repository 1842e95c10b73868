"""How APDUs reach a card: PC/SC (pyscard), the in-process simulator, replay and fault injection.

T=0 handling, tracing and reader events live here.
"""
