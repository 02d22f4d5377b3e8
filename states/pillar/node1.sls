address: 192.168.16.128
vrrp:
  role: MASTER
  priority: 100
