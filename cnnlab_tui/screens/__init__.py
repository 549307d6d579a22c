"""The dashboard's screens, one module each.

The top-level screens are Textual modes registered in `cnnlab_tui.app.CnnlabApp` (new_run,
live, runs, compare, conv_lab); Run detail and a picked Compare are pushed on top of the
current mode; confirm is a modal used everywhere.
"""
