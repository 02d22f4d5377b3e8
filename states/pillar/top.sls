# Pillar: per-minion data for the state tree. Everything shared first, then each node's own.
base:
  '*':
    - pair
  node1:
    - node1
  node2:
    - node2
