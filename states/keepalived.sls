# keepalived: config per role from pillar, checked with `keepalived -t` before it is installed, the check
# script, notify hooks wired to haminion, reloaded (never restarted) when the config changes.
{% set ka = pillar['keepalived'] %}
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
    - check_cmd: keepalived -t -f {}
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
