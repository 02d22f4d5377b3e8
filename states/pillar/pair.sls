# The seed's pair: two nodes, one VIP, VRRP instance VI_1 (192.168.16.128 / .129, VIP .130).
vrrp:
  instance: VI_1
  interface: ens33
  virtual_router_id: 66
  advert_int: 1
  auth_pass: "1111"          # keepalived keeps at most 8 characters; masked in all output
  vips:
    - 192.168.16.130
  weight: 2                  # must exceed the priority gap, or a failed check cannot move the VIP

keepalived:
  check: script              # script: the seed's check (start nginx, else give the VIP away); process: vrrp_track_process
  check_script: /etc/keepalived/check_nginx.sh
  commands: {}               # {} = systemd; else {start, stop, reload, status} command lines (containers, the lab)

nginx:
  package: nginx
  root: /var/www/html
  listen: 80
  workers: auto
  pid: /run/nginx.pid        # empty when the service command sets it (the lab does)
  run_dir: ""                # the lab puts logs, lock and temp files of each node in its own folder
  commands: {}

haminion:
  hook: /usr/local/bin/haminion-hook     # keepalived's notify hook (`haminion hook`, without a wrapper's imports)
  config: /etc/hamaster/minion.yaml
  fifo: /etc/hamaster/keepalived.fifo    # the `fifo:` of minion.yaml

drain:
  enabled: true              # `hamaster drain NODE` moves the VIPs away through keepalived's track_file (no restart)
  file: /etc/keepalived/hamaster-drain   # 0 = in service, 1 = drained; the minion writes it
  weight: 50                 # drained priority = priority - weight: must exceed the pair's priority gap
