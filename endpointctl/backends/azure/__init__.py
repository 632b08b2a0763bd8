"""backends/azure"""
