"""The evaluation engine: harness rendering, the agent loop, tools, graders and the sandbox.

Pure Python with no Django import, so it can be tested and benchmarked alone. Import the
submodules directly; this package imports nothing on purpose (the harnesses app only needs
the light `harness_config`).
"""
