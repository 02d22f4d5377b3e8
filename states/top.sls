# Which SLS each minion gets (glob on the minion id; `- match: grain` for a grain target like 'os:debian').
base:
  '*':
    - nginx
    - keepalived
