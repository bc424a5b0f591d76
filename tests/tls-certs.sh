#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Makes the TLS test material in directory $1 with the openssl command line (P-256 keys):
#   ca.pem ca.key            the test CA ("CN=condd test CA")
#   server.pem server.key    server certificate from ca, for DNS:localhost and IP:127.0.0.1
#   server2.pem server2.key  a second one from ca (the certificate a reload switches to)
#   client.pem client.key    client certificate from ca, subject "CN=worker-1,O=condd tests"
#   expired.pem expired.key  server certificate from ca that expired yesterday
#   other-ca.pem             another CA ("CN=other CA")
#   other.pem other.key      server and client certificate from other-ca
#                            (subject "CN=intruder,O=condd tests", DNS:localhost, IP:127.0.0.1)
#   server.enc.key client.enc.key  server.key and client.key encrypted (passphrase "x")
# Used by check_tls, check_tls_resume (through tls_util.c) and condctl-tls.sh; quiet unless
# something fails.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca days
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
        'extendedKeyUsage=serverAuth,clientAuth' 'basicConstraints=CA:FALSE' >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" \
        -days "$4" -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
ca ca "/CN=condd test CA"
ca other-ca "/CN=other CA"
leaf server "/CN=localhost" ca 30
leaf server2 "/CN=localhost/O=reloaded" ca 30
leaf client "/O=condd tests/CN=worker-1" ca 30
leaf expired "/CN=localhost" ca -1
leaf other "/O=condd tests/CN=intruder" other-ca 30
for k in server client; do
    openssl pkey -in "$k.key" -aes256 -passout pass:x -out "$k.enc.key"
done
rm -f ./*.srl
