#!/bin/sh
# compose: render users.acl.template into an ACL file (each ${US_REDIS_*_PASSWORD} becomes the
# SHA-256 of its value, so no password is written in clear), then exec redis-server with it.
# Extra arguments go to redis-server. A missing password stops the start, loudly.
# `--render-only` writes the file and exits (systemd hosts: US_REDIS_ACL_FILE=/etc/redis/users.acl,
# then `aclfile /etc/redis/users.acl` in redis.conf).
set -eu
template=${US_REDIS_ACL_TEMPLATE:-$(dirname "$0")/users.acl.template}
out=${US_REDIS_ACL_FILE:-/tmp/us-users.acl}
umask 077
: > "$out"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in "" | "#"*) continue ;; esac
    while :; do
        var=$(printf '%s\n' "$line" | sed -n 's/.*>\${\(US_REDIS_[A-Z]*_PASSWORD\)}.*/\1/p')
        [ -n "$var" ] || break
        eval "value=\${$var:-}"
        if [ -z "$value" ]; then
            echo "start-redis.sh: set $var" >&2
            exit 1
        fi
        hash=$(printf '%s' "$value" | sha256sum | cut -d' ' -f1)
        line=$(printf '%s\n' "$line" | sed "s/>\${$var}/#$hash/")
    done
    printf '%s\n' "$line" >> "$out"
done < "$template"
if [ "${1:-}" = "--render-only" ]; then
    exit 0
fi
exec redis-server --save "" --appendonly no --aclfile "$out" "$@"
