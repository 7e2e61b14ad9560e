"""Code that runs inside the HDL simulator: bench, agents, pyuvm environment, cocotb tests."""
