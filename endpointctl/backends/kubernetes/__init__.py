"""backends/kubernetes"""
