"""One module per report section: its runs, tables, drawer and prose (listed in ``build.SECTIONS``)."""
