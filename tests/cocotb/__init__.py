"""cocotb/pyuvm testbenches of the PTDMA Verilog twin (run through cocotb's Python runner)."""
