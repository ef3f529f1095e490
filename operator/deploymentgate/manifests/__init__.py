"""Files generated from the models: the resource reference (docs/reference.md).

Generating is pure (a function returns the text); writing the files is the
command line's job (`make docs`), never an import's.
"""
