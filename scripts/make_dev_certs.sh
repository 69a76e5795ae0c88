#!/usr/bin/env bash
# Issue a private CA, a node certificate (served by gateways and registries, and presented by them
# as clients) and a client certificate (operators, applications), with openssl. docs/security.md
# explains each step; bench/tls_ab.py uses this to measure what TLS costs.
#
#   scripts/make_dev_certs.sh DIR [NAME...]     # NAME: extra DNS names or IP addresses of the node
#
# Writes DIR/ca.pem ca.key node.pem node.key client.pem client.key (keys 0600). An existing
# DIR/ca.key is reused, so running it again with the same DIR rotates the node and client
# certificates under the same CA (new keys, new serials).
set -euo pipefail

DIR="${1:?usage: $0 DIR [NAME...]}"
shift
DAYS="${DAYS:-365}"
mkdir -p "$DIR"
umask 077

# 1. The CA: a self-signed certificate that may sign others (keep ca.key offline in production).
if [ ! -f "$DIR/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/ca.key"
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days "$((DAYS * 3))" -subj "/CN=driftgate CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/ca.pem"
fi

# 2. The node certificate: the names clients dial (DNS names and IP addresses, as subjectAltName),
#    good for serving (serverAuth) and for dialling a registry that asks for a client certificate.
SAN="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then SAN="$SAN,IP:$name"; else SAN="$SAN,DNS:$name"; fi
done
openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/node.key.new"
openssl req -new -key "$DIR/node.key.new" -subj "/CN=driftgate node" -out "$DIR/node.csr"
openssl x509 -req -in "$DIR/node.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -sha256 \
  -days "$DAYS" -out "$DIR/node.pem.new" -extfile <(printf '%s\n' \
    "subjectAltName=$SAN" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth")

# 3. A client certificate (an operator's CLI, an application calling the gateway).
openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/client.key.new"
openssl req -new -key "$DIR/client.key.new" -subj "/CN=driftgate client" -out "$DIR/client.csr"
openssl x509 -req -in "$DIR/client.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -sha256 \
  -days "$DAYS" -out "$DIR/client.pem.new" -extfile <(printf '%s\n' \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth")

# Put each file in place with a rename (a running server never reads half a file); key first, so
# that a server reading between the two renames sees a pair that does not match and keeps the old.
for name in node client; do
  mv "$DIR/$name.key.new" "$DIR/$name.key"
  mv "$DIR/$name.pem.new" "$DIR/$name.pem"
done
chmod 644 "$DIR/ca.pem" "$DIR/node.pem" "$DIR/client.pem"
rm -f "$DIR/node.csr" "$DIR/client.csr"
openssl verify -CAfile "$DIR/ca.pem" "$DIR/node.pem" "$DIR/client.pem"
