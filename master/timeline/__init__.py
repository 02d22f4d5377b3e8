"""The story afterwards: timeline rows from the store (rows.py), their formats (formats.py, table.py) and
the postmortem of one incident: its content (report.py), picture (picture.py) and documents (postmortem.py)."""
