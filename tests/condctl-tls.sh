#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl over TLS against a condd with a TLS listener beside its plaintext one: tls: addresses
# with --ca and $CONDD_CA_FILE, what an unusable file or an unknown CA does (exit 2 and 3), a
# plaintext client on the TLS port and a TLS client on the plaintext port (closed at once, with a
# log line), and SIGHUP reloading the certificate: new connections get the new one while an open
# connection keeps its lock, and a bad file or an encrypted key (also at SIGUSR2) keeps the old
# certificate; an expired certificate, or one not valid yet, is served with a warning.
# Certificates come from tls-certs.sh, and the one not valid yet from openssl ca.
. "$(dirname "$0")/condctl-lib.sh"

command -v openssl >/dev/null 2>&1 || fail "openssl (the command) is needed"
C=$T/certs
sh "$top_srcdir/tests/tls-certs.sh" "$C" || fail "tls-certs.sh failed"
cp "$C/server.pem" "$T/cur.pem"
cp "$C/server.key" "$T/cur.key"
start_daemon --listen-tls 127.0.0.1:0 --tls-port-file "$T/tlsport" --tls-cert "$T/cur.pem" \
    --tls-key "$T/cur.key" --log-level info
TLS=$(cat "$T/tlsport")
S=tls:127.0.0.1:$TLS

# served_subject: the subject of the certificate the TLS port serves now.
served_subject() {
    openssl s_client -connect "127.0.0.1:$TLS" -CAfile "$C/ca.pem" </dev/null 2>/dev/null |
        openssl x509 -noout -subject -nameopt RFC2253 2>/dev/null
}
subject_is() {
    [ "$(served_subject)" = "subject=$1" ]
}

note "tls: with --ca, with \$CONDD_CA_FILE, by name"
run_rc 0 "$CONDCTL" -s "$S" --ca "$C/ca.pem" ping
CONDD_CA_FILE=$C/ca.pem run_rc 0 "$CONDCTL" -s "$S" ping
run_rc 0 "$CONDCTL" -s "tls:localhost:$TLS" --ca "$C/ca.pem" lock tls/a -- true

note "an unknown CA exits 3 with the reason; an unusable file exits 2"
run_rc 3 "$CONDCTL" -s "$S" --ca "$C/other-ca.pem" ping
grep -q "certificate" "$T/err" || fail "no reason: $(cat "$T/err")"
# condd is running: a hint that it may not be would send the user the wrong way.
grep -q "is condd running" "$T/err" && fail "a 'running?' hint for a certificate: $(cat "$T/err")"
run_rc 2 "$CONDCTL" -s "$S" --ca "$T/missing.pem" ping
grep -q "missing.pem" "$T/err" || fail "no file named: $(cat "$T/err")"
CONDD_CERT_FILE=$C/client.pem CONDD_KEY_FILE=$C/other.key run_rc 2 "$CONDCTL" -s "$S" \
    --ca "$C/ca.pem" ping
run_rc 2 "$CONDCTL" -s "tls:unix:/tmp/x" ping
run_rc 2 "$CONDCTL" -s "tls:/tmp/x" ping
grep -q "TLS is over TCP only" "$T/err" || fail "tls:/path: $(cat "$T/err")"
run_rc 2 "$CONDCTL" -s "$S" --ca "" ping

note "plaintext on the TLS port and TLS on the plaintext port: closed at once, logged"
within 3 30 "$CONDCTL" -s "127.0.0.1:$TLS" --connect-timeout 60 ping
wait_until 10 grep -q "TLS handshake failed" "$T/condd.log" || fail "no log line for plaintext"
grep -q "the server closed the connection before answering Hello (restarting, or does it expect TLS? use tls:HOST:PORT)\$" "$T/bg.err" ||
    fail "plaintext on the TLS port, no TLS hint: $(cat "$T/bg.err")"
within 3 30 "$CONDCTL" -s "tls:127.0.0.1:$PORT" --ca "$C/ca.pem" --connect-timeout 60 ping
grep -q "(a plaintext port? drop tls: from the address) (OpenSSL: wrong version number)\$" "$T/bg.err" ||
    fail "TLS on the plaintext port, no hint: $(cat "$T/bg.err")"
wait_until 10 grep -q "a TLS handshake on a plaintext port" "$T/condd.log" ||
    fail "no log line for TLS on the plaintext port"

note "SIGHUP: new connections get the new certificate, an open one keeps its lock"
subject_is "CN=localhost" || fail "serving $(served_subject)"
spawn holder "$CONDCTL" -s "$S" --ca "$C/ca.pem" hold tls/held --until-signal
wait_until 20 is_locked tls/held || fail "the holder did not take tls/held"
cp "$C/server2.pem" "$T/cur.pem"
cp "$C/server2.key" "$T/cur.key"
kill -HUP "$DAEMON_PID"
wait_until 20 subject_is "O=reloaded,CN=localhost" || fail "still serving $(served_subject)"
run_rc 0 "$CONDCTL" -s "$S" --ca "$C/ca.pem" ping
running holder || fail "the holder ended: $(cat "$T/holder.err")"
is_locked tls/held || fail "tls/held was released by the reload"

note "SIGHUP with a bad certificate: logged, the old one stays"
echo "not a certificate" >"$T/cur.pem"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "reload failed: tls-cert" "$T/condd.log" || fail "no reload error logged"
subject_is "O=reloaded,CN=localhost" || fail "now serving $(served_subject)"
run_rc 0 "$CONDCTL" -s "$S" --ca "$C/ca.pem" ping
grep -q "BEGIN" "$T/condd.log" && fail "key material in the log"
note "SIGHUP with a missing key: logged with the system's reason, the old one stays"
rm -f "$T/cur.key"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "reload failed: tls-key: cannot read $T/cur.key: No such file or directory" \
    "$T/condd.log" || fail "no reload error for the missing key: $(tail -3 "$T/condd.log")"
subject_is "O=reloaded,CN=localhost" || fail "now serving $(served_subject)"

note "SIGHUP and SIGUSR2 with an encrypted key: no prompt, logged, the old key stays"
cp "$C/server.pem" "$T/cur.pem"
cp "$C/server.enc.key" "$T/cur.key"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "reload failed: tls-key .* is encrypted" "$T/condd.log" ||
    fail "no reload error for the encrypted key: $(tail -3 "$T/condd.log")"
subject_is "O=reloaded,CN=localhost" || fail "now serving $(served_subject)"
run_rc 0 "$CONDCTL" -s "$S" --ca "$C/ca.pem" ping
kill -USR2 "$DAEMON_PID"
wait_until 20 grep -q "restart refused.*is encrypted" "$T/condd.log" ||
    fail "no restart error for the encrypted key: $(tail -3 "$T/condd.log")"
run_rc 0 "$CONDCTL" -s "$S" --ca "$C/ca.pem" ping
running holder || fail "the holder ended: $(cat "$T/holder.err")"
grep -qi "pass phrase" "$T/condd.log" && fail "a passphrase prompt: $(cat "$T/condd.log")"
kill -TERM "$(pid_of holder)"
wait_until 20 is_free tls/held || fail "tls/held not released after the holder ended"

note "SIGHUP to an expired certificate: served, with a warning"
cp "$C/expired.pem" "$T/cur.pem"
cp "$C/expired.key" "$T/cur.key"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "warning: tls-cert $T/cur.pem: the certificate expired on" "$T/condd.log" ||
    fail "no warning for the expired certificate: $(tail -3 "$T/condd.log")"
run_rc 0 "$CONDCTL" -s "127.0.0.1:$PORT" ping

note "SIGHUP to a certificate not valid yet: served, with a warning"
# openssl x509 -req (OpenSSL 3.0) cannot set a future notBefore; openssl ca can, given a
# minimal CA of its own: a database, a serial and a policy, in the test's directory.
F=$T/future-ca
mkdir -p "$F/new"
: >"$F/index.txt"
echo 01 >"$F/serial"
cat >"$F/ca.cnf" <<EOF
[ca]
default_ca = future
[future]
database = $F/index.txt
new_certs_dir = $F/new
serial = $F/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
EOF
# A day from now, to the second, as -startdate takes it and as the warning prints it.
from=$(($(date +%s) + 86400))
start=$(date -u -d "@$from" +%Y%m%d%H%M%SZ)
shown=$(date -u -d "@$from" "+%Y-%m-%d %H:%M:%S UTC")
end=$(date -u -d "@$((from + 30 * 86400))" +%Y%m%d%H%M%SZ)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$F/future.key" 2>/dev/null ||
    fail "openssl genpkey failed"
openssl req -new -key "$F/future.key" -subj "/CN=localhost" -out "$F/future.csr" ||
    fail "openssl req failed"
openssl ca -batch -config "$F/ca.cnf" -cert "$C/ca.pem" -keyfile "$C/ca.key" -in "$F/future.csr" \
    -out "$F/future.pem" -notext -extensions leaf -startdate "$start" -enddate "$end" \
    2>"$F/ca.err" || fail "openssl ca failed: $(cat "$F/ca.err")"
openssl x509 -in "$F/future.pem" -noout -checkend 0 >/dev/null ||
    fail "the certificate made has expired already"
cp "$F/future.pem" "$T/cur.pem"
cp "$F/future.key" "$T/cur.key"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "warning: tls-cert $T/cur.pem: the certificate is not valid before $shown;" \
    "$T/condd.log" || fail "no warning for a certificate not valid yet (want $shown): \
$(tail -3 "$T/condd.log")"
run_rc 0 "$CONDCTL" -s "127.0.0.1:$PORT" ping

note "ok"
