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
  # Other topologies, one switch each (README "Configure the pair" shows them whole):
  # profile: fast              # lay vrrp_profiles.fast over every instance (VRRPv3, adverts every 0.2 s)
  # unicast_peers: [192.168.16.129]   # per node: the others' addresses; unicast_src_ip defaults to `address`
  # vips: []                   # no VIP (clouds): keepalived still elects a MASTER; a notify script moves the IP
  # nopreempt: true            # a node back stays BACKUP (every node starts BACKUP); or preempt_delay: 30
  # sync_group: VG_1           # the node's instances in one vrrp_sync_group: they move together
  # instances:                 # more instances beside `instance`, each key above overridable per instance;
  #   VI_6: {virtual_router_id: 67, vips: ["fd00:16::130/64"]}   # v6 VIPs make an IPv6 (VRRPv3) instance
  #   VI_2: {virtual_router_id: 68, vips: [192.168.16.131]}      # active-active: node2 says VI_2's role: MASTER

# `vrrp.profile: NAME` lays one of these over each instance (the seed's profile is the settings above).
# fast: VRRPv3 (no authentication: v3 has none), an advert every 0.2 s, so a backup takes over about 0.7 s
# after the master's last advert; gratuitous ARPs at once, again after 1 s, and every 10 s while MASTER.
vrrp_profiles:
  fast: {version: 3, advert_int: 0.2, garp_master_delay: 1, garp_master_repeat: 3, garp_master_refresh: 10}

keepalived:
  check: script              # script: the seed's check (start nginx, else give the VIP away); process: vrrp_track_process
  check_script: /etc/keepalived/check_nginx.sh
  commands: {}               # {} = systemd; else {start, stop, reload, status} command lines (containers, the lab)

nginx:
  package: nginx
  root: /var/www/html
  listen: 80
  # listen_v6: true          # on [::]:80 too (a v6 VIP)
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
