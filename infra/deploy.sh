#!/bin/sh
# The pipeline's entry point on the server (.github/workflows/deploy.yml runs it over SSH as
# `sudo /usr/local/sbin/us-playback-deploy <sha>`; infra/bootstrap.sh installs it there).
# It fetches the commit into the server's mirror and runs the deploy tool *of that commit*
# (devtools/deploy.py, standard library only): build, migrate, canary, switch, swap, nginx,
# rollback, pruning — docs/DEPLOY.md. One deploy at a time (a lock); safe to run again.
set -eu
BASE=${US_DEPLOY_BASE:-/opt/us-playback}
commit=${1:?usage: us-playback-deploy <commit sha> [--keep N] | rollback | status}
shift
exec 9>/run/lock/us-playback-deploy
flock -n 9 || { echo "another deploy is running" >&2; exit 1; }

case "$commit" in
    rollback|status) action=$commit; commit=$(readlink "$BASE/current" | sed 's|.*/||') ;;
    *) action=deploy ;;
esac
# Only a hex sha reaches git: the SSH user may run this script and nothing else.
case "$commit" in ''|*[!0-9a-f]*) echo "not a commit sha: $commit" >&2; exit 2 ;; esac

git -C "$BASE/repo.git" fetch --quiet --prune origin '+refs/heads/*:refs/heads/*'
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
git -C "$BASE/repo.git" archive "$commit" devtools | tar -x -C "$tool"
cd "$tool"
if [ "$action" = deploy ]; then
    python3 -m devtools.deploy --base "$BASE" "$@" deploy "$commit"
else
    python3 -m devtools.deploy --base "$BASE" "$@" "$action"
fi
