address: 192.168.16.129
vrrp:
  role: BACKUP
  priority: 99
