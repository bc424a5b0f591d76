/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The TLS suites' fixtures (tls_util.h): the certificate folder, a condd with a TLS listener,
 * and the options and addresses of its TLS clients. Split out of check_tls.c so that
 * check_tls_resume.c runs against the same fixtures.
 */
#include "config.h"

#include "tls_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* One folder per process: the suites run their test cases' fixtures once (unchecked). */
static char tlsu_certs[64];

const char *tlsu_dir(void)
{
    return tlsu_certs;
}

const char *tlsu_cert(const char *name)
{
    static char paths[8][160];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", tlsu_certs, name);
    return p;
}

void tlsu_make_certs(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(tlsu_certs, sizeof tlsu_certs, "/tmp/check-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tlsu_certs));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tls-certs.sh' '%s'", top != NULL ? top : "..",
             tlsu_certs);
    ck_assert_int_eq(system(cmd), 0);
}

void tlsu_remove_certs(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tlsu_certs);
    ck_assert_int_eq(system(cmd), 0);
}

/* A daemon with a plaintext listener (d->port) and a TLS one (*tls_port) using the server
 * certificate srv_cert (e.g. "server"), then the NULL-terminated extra arguments. */
void tlsu_start_daemon(struct tu_daemon *d, int *tls_port, const char *srv_cert,
                       const char *const *extra)
{
    char crt[160], key[160], portfile[160];
    snprintf(crt, sizeof crt, "%s/%s.pem", tlsu_certs, srv_cert);
    snprintf(key, sizeof key, "%s/%s.key", tlsu_certs, srv_cert);
    snprintf(portfile, sizeof portfile, "%s/tls-port-%s", tlsu_certs, srv_cert);
    unlink(portfile);
    const char *args[32] = {"--listen-tls", "127.0.0.1:0", "--tls-port-file", portfile,
                            "--tls-cert",   crt,           "--tls-key",       key};
    int n = 8;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    ck_assert(tu_daemon_start(d, false, args));
    FILE *f = fopen(portfile, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", tls_port), 1);
    fclose(f);
    ck_assert_int_gt(*tls_port, 0);
}

/* Options for a TLS client: CA file, client certificate (NULL: none), server name (NULL: the
 * address's host). */
condd_options *tlsu_options(const char *ca, const char *client, const char *name)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 30), CONDD_OK);
    if (ca != NULL)
        ck_assert_int_eq(condd_options_set_tls_ca(o, tlsu_cert(ca)), CONDD_OK);
    if (client != NULL) {
        char crt[64], key[64];
        snprintf(crt, sizeof crt, "%s.pem", client);
        snprintf(key, sizeof key, "%s.key", client);
        ck_assert_int_eq(condd_options_set_tls_cert(o, tlsu_cert(crt)), CONDD_OK);
        ck_assert_int_eq(condd_options_set_tls_key(o, tlsu_cert(key)), CONDD_OK);
    }
    if (name != NULL)
        ck_assert_int_eq(condd_options_set_tls_server_name(o, name), CONDD_OK);
    return o;
}

/* Opens addr with o (freed); the result code, the connection (or NULL) in *out, and the
 * failure's message in msg. */
int tlsu_open_with(const char *addr, condd_options *o, condd_conn **out, char *msg, size_t msglen)
{
    *out = NULL;
    int rc = condd_conn_open(addr, o, out);
    condd_options_free(o);
    snprintf(msg, msglen, "%s", condd_conn_message(NULL));
    return rc;
}

void tlsu_addr(char *buf, size_t len, const char *host, int port)
{
    snprintf(buf, len, "tls:%s:%d", host, port);
}
