"""The story afterwards: timeline rows from the store (rows.py), their formats (formats.py, table.py) and
the HTML postmortem of one incident (postmortem.py)."""
