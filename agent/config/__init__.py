"""Gateway configuration: gateway.yaml parsed and validated once at start-up into immutable objects.

`models` holds the objects, `loading` reads files and text into them, `text` turns YAML and
pydantic errors into `key.path: message (gateway.yaml line N)`, `lighting` checks and builds the
lighting section, `keys` reads the command key.
"""
