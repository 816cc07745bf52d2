#!/bin/sh
# The one manual step on a new Ubuntu server (README "Deploy"); afterwards every merge to main is
# deployed by the pipeline. Run from a checkout, as root:
#   sudo sh infra/bootstrap.sh https://github.com/OWNER/REPO.git DEPLOY_USER
# DEPLOY_USER is the SSH user of the pipeline (secret DEPLOY_USER); it may run the deploy, nothing
# else. Idempotent: settings that exist are kept, generated secrets are generated once.
set -eu
repo=${1:?usage: bootstrap.sh REPO_URL DEPLOY_USER}
deploy_user=${2:?usage: bootstrap.sh REPO_URL DEPLOY_USER}
here=$(cd "$(dirname "$0")/.." && pwd)
BASE=/opt/us-playback
ETC=/etc/us-playback

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends git nginx-light python3 python3-pip postgresql \
    redis-server openssl ca-certificates >/dev/null
command -v uv >/dev/null || pip3 install --quiet --break-system-packages uv==0.13.9

id us-playback >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /usr/sbin/nologin us-playback
id "$deploy_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$deploy_user"
install -d -m 755 "$BASE" "$BASE/releases"
[ -d "$BASE/repo.git" ] || git clone --quiet --bare "$repo" "$BASE/repo.git"

# Settings: the examples, with generated keys and passwords where they say CHANGE or are empty.
install -d -m 750 -g us-playback "$ETC"
gen() { openssl rand -hex "$1"; }
if [ ! -e "$ETC/common.env" ]; then
    sed -e "s|^US_ACCESS_TOKEN_KEY=\$|US_ACCESS_TOKEN_KEY=$(gen 32)|" \
        -e "s|^US_MEDIA_TOKEN_KEY=\$|US_MEDIA_TOKEN_KEY=$(gen 32)|" \
        "$here/infra/env/common.env.example" > "$ETC/common.env"
fi
pg_password=$(gen 24)
for service in control events media; do
    [ -e "$ETC/$service.env" ] && continue
    redis_password=$(gen 24)
    sed -e "s|us-$service:CHANGE@|us-$service:$redis_password@|" -e "s|us_control:CHANGE@|us_control:$pg_password@|" \
        "$here/infra/env/$service.env.example" > "$ETC/$service.env"
    if [ "$service" = control ]; then
        runuser -u postgres -- psql -q -c "CREATE ROLE us_control LOGIN PASSWORD '$pg_password'" 2>/dev/null \
            || runuser -u postgres -- psql -q -c "ALTER ROLE us_control LOGIN PASSWORD '$pg_password'"
        runuser -u postgres -- createdb -O us_control us_playback 2>/dev/null || true
    fi
    echo "US_REDIS_$(echo "$service" | tr a-z A-Z)_PASSWORD=$redis_password" >> "$ETC/redis-passwords.env"
done
[ -e "$ETC/nginx.env" ] || cp "$here/infra/env/nginx.env.example" "$ETC/nginx.env"
chown root:us-playback "$ETC"/*.env
chmod 640 "$ETC"/*.env
chmod 600 "$ETC/redis-passwords.env"

# Redis: one ACL user per service (infra/redis/users.acl.template), hashed passwords.
set -a; . "$ETC/redis-passwords.env"; set +a
US_REDIS_ACL_FILE=/etc/redis/users.acl sh "$here/infra/redis/start-redis.sh" --render-only
chown redis:redis /etc/redis/users.acl
grep -q '^aclfile /etc/redis/users.acl' /etc/redis/redis.conf || echo 'aclfile /etc/redis/users.acl' >> /etc/redis/redis.conf
systemctl restart redis-server

# The deploy: the pipeline's SSH user may run exactly this, as root.
install -m 755 "$here/infra/deploy.sh" /usr/local/sbin/us-playback-deploy
printf '%s ALL=(root) NOPASSWD: /usr/local/sbin/us-playback-deploy\n' "$deploy_user" > /etc/sudoers.d/us-playback-deploy
chmod 440 /etc/sudoers.d/us-playback-deploy
visudo -cqf /etc/sudoers.d/us-playback-deploy
rm -f /etc/nginx/sites-enabled/default

echo "Ready. Put the pipeline's public key in ~$deploy_user/.ssh/authorized_keys, check $ETC/*.env"
echo "(US_PUBLIC_URL, US_MUSIC_ROOT, nginx.env), then merge to main — or deploy by hand:"
echo "  sudo us-playback-deploy \$(git -C $BASE/repo.git rev-parse main)"
