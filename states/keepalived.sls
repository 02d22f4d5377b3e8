# keepalived: config per role from pillar, checked with `keepalived -t` before it is installed, the check
# script, notify hooks wired to haminion, reloaded (never restarted) when the config changes.
{% set ka = pillar['keepalived'] %}
{% set v = pillar['vrrp'] %}
{# keepalived -t exits 5 on a vrrp_instance without VIPs (the cloud case, where a notify script moves the
   address): accept that one complaint, and no other #}
{% set vip_less = v['vips'] | length == 0 or (v.get('instances') or {}).values() | selectattr('vips', 'defined')
   | rejectattr('vips') | list | length > 0 %}
include:
  - nginx

keepalived:
  pkg.installed: []

{% if ka['check'] == 'script' %}
check_nginx_script:
  file.managed:
    - name: {{ ka['check_script'] }}
    - source: files/check_nginx.sh.j2
    - template: jinja
    - mode: "0755"
    - makedirs: true
{% endif %}

keepalived_conf:
  file.managed:
    - name: /etc/keepalived/keepalived.conf
    - source: files/keepalived.conf.j2
    - template: jinja
    - mode: "0640"
    - makedirs: true
{% if vip_less %}
    - check_cmd: >-
        out=$(keepalived -t -f {} 2>&1); rc=$?; echo "$out"; [ $rc -eq 0 ] || { [ $rc -eq 5 ] &&
        ! echo "$out" | grep -v 'No VIP specified; at least one is sensible' | grep -q .; }
{% else %}
    - check_cmd: keepalived -t -f {}
{% endif %}
    - require:
      - pkg: keepalived
{% if ka['check'] == 'script' %}
      - file: check_nginx_script
{% endif %}

keepalived_service:
  service.running:
    - name: keepalived
    - enable: true
    - commands: {{ ka['commands'] | tojson }}
    - watch:
      - file: keepalived_conf
    - require:
      - service: nginx_service
