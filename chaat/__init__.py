"""Chaat: a self-hostable chat server (chaat.app) and its terminal client (chaat.repl)."""
