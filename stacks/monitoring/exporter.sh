# Writes the host's load average as a metrics page every 5 s and serves it
# on 127.0.0.1:9100 with busybox httpd (run by the exporter service).
mkdir -p /tmp/www
while true; do
  read -r one five fifteen _ < /proc/loadavg
  printf 'node_load1 %s\nnode_load5 %s\nnode_load15 %s\n' "$one" "$five" "$fifteen" \
    > /tmp/www/metrics.new && mv /tmp/www/metrics.new /tmp/www/metrics
  sleep 5
done &
exec httpd -f -p 127.0.0.1:9100 -h /tmp/www
