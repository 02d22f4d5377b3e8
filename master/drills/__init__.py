"""Proving the standby works: readiness findings, drain/undrain and the drill's figures (the CLI drives them).

    snapshot.py   the site as the master knows it now: VRRP states, who is online, drain marks, addresses
    readiness.py  findings about a pair (what is wrong, what to do), for `drain`, `drill` and `check`
    figures.py    a drill's outage (the probe) and VRRP gap (the events), and the drill's timeline entry

Below the CLI: nothing here talks to the control socket; the CLI passes what it got from the master.
"""
