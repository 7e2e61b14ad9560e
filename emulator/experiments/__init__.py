"""Experiments run by the ``dcbm-emu`` CLI: the top layer, which drives everything below."""
