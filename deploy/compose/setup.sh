#!/bin/sh
# Creates a three-node example federation in $FEDERATION (default /federation): a consortium CA,
# and for each node (bafa, ecju, meti) a data dir with its authority's signing key, log and
# witness keys, a TLS certificate for registry.NODE.example, and a config naming the other two
# as peers and trusting their authorities. Runs once; a second run leaves everything as it is.
set -eu
D="${FEDERATION:-/federation}"
NODE_BIN="${COMITY_NODE_BIN:-comity-node}"
[ -f "$D/done" ] && exit 0
mkdir -p "$D"
"$NODE_BIN" ca init --dir "$D/ca" --name "Comity example consortium" > /dev/null
authority() {
  case "$1" in
    bafa) echo "de.bafa=Federal Office for Economic Affairs and Export Control" ;;
    ecju) echo "uk.ecju=Export Control Joint Unit" ;;
    meti) echo "jp.meti=Ministry of Economy, Trade and Industry" ;;
  esac
}
for site in bafa ecju meti; do
  mkdir -p "$D/$site"
  "$NODE_BIN" init --data-dir "$D/$site" --authority "$(authority "$site")" --origin "registry.$site.example/log" \
    --tls-ca "$D/ca" --listen 0.0.0.0:7700 2>/dev/null > "$D/$site/init.txt"
done
for site in bafa ecju meti; do
  for other in bafa ecju meti; do
    [ "$site" = "$other" ] && continue
    log_key=$(sed -n 's/^log [^ ]*: verifier key \([^ ]*\) .*/\1/p' "$D/$other/init.txt")
    witness_key=$(sed -n 's/^witness [^ ]*: key \([^ ]*\) .*/\1/p' "$D/$other/init.txt")
    signing=$(sed -n 's/^authority \([^:]*\): signing key \([0-9a-f]*\) .*/\1 \2/p' "$D/$other/init.txt")
    cat >> "$D/$site/comity.toml" <<EOT

[[peer]]
id = "$other"
url = "https://$other:7700"
log_key = "$log_key"
witness_key = "$witness_key"

[[trusted]]
id = "${signing% *}"
keys = ["${signing#* }"]
EOT
  done
done
touch "$D/done"
# In the container, the nodes run as the image's `comity` user.
if id comity > /dev/null 2>&1; then chown -R comity:comity "$D"; fi
