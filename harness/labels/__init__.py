"""How a user's label maps to a model's classes.

A label is an exact class (index, WordNet id or name, as always), else an entry
of ``--label-map``, else a WordNet noun (a wnid or one of a synset's words, with
case, ``_``, ``-`` and simple plurals not mattering) standing for the model's
classes under it. ``resolve`` decides; ``wordnet`` holds the hierarchy, read
from the package's table only when a label needs it.
"""
