# nginx installed, serving a page that names its node (the seed tells the nodes apart so), reloaded on change.
{% set nginx = pillar['nginx'] %}
nginx:
  pkg.installed:
    - name: {{ nginx['package'] }}

nginx_page:
  file.managed:
    - name: {{ nginx['root'] }}/index.html
    - contents: "{{ minion_id }} {{ pillar['address'] }}\n"
    - mode: "0644"
    - makedirs: true

nginx_conf:
  file.managed:
    - name: /etc/nginx/nginx.conf
    - source: files/nginx.conf.j2
    - template: jinja
    - mode: "0644"
    - makedirs: true
    - check_cmd: nginx -t -q -c {}
    - require:
      - pkg: nginx

nginx_service:
  service.running:
    - name: nginx
    - enable: true
    - commands: {{ nginx['commands'] | tojson }}
    - watch:
      - file: nginx_conf
