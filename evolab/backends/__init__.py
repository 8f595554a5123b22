"""Model backends: one OpenAI-compatible client wrapper (`client`), the parameter probe
(`probe`), and the simulator (`simulator`). Pure Python, no Django.

Nothing is imported here, so `evolab.backends.types` stays cheap to import.
"""
