#!/bin/sh
# Makes a private CA and a certificate for the collector, signed by it, with openssl.
# The README's TLS how-to runs these same commands; the tests run this script.
#
#   sh scripts/make_tls_certs.sh DIR NAME [IP]
#
# DIR/ca.pem, DIR/ca.key          the private CA (keep ca.key offline; give ca.pem to agents)
# DIR/collector.pem, collector.key the collector's certificate for NAME (and IP, if given)
set -eu
dir=${1:?usage: make_tls_certs.sh DIR NAME [IP]}
name=${2:?usage: make_tls_certs.sh DIR NAME [IP]}
ip=${3:-}
mkdir -p "$dir"
cd "$dir"
umask 077
san="DNS:$name"
[ -n "$ip" ] && san="$san,IP:$ip"

# 1. The CA: an EC P-256 key and a self-signed certificate valid for 10 years.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Cluster Sentinel private CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# 2. The collector's key and a signing request naming it.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout collector.key -out collector.csr -subj "/CN=$name" 2>/dev/null

# 3. The CA signs it for 825 days, for server use, with the names agents will connect to.
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" > collector.ext
openssl x509 -req -in collector.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out collector.pem -days 825 -extfile collector.ext 2>/dev/null
rm -f collector.csr collector.ext ca.srl
chmod 644 ca.pem collector.pem
echo "made $dir/ca.pem and $dir/collector.pem for $san"
