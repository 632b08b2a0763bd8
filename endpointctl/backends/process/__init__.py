"""backends/process"""
