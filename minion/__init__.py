"""The minion: the keepalived hook, the node's durable spool, the uplink to the master, and state execution."""
