"""The ``jedi-bench`` sub-commands: each module parses nothing, checks its inputs, calls the library and
prints what it did. :mod:`jedi_bench.cli` maps the command line onto them."""
