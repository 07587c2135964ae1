"""Client and release side: image URIs per region, building and publishing images.

Importable with the light base install: nothing here imports torch or the server.
"""
