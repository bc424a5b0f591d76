/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Connection options (condd_options): an opaque bag of settings read by condd_async_conn_open() and
 * condd_conn_open(), so that settings can be added without changing the ABI.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

condd_options *condd_options_new(void)
{
    condd_options *o = calloc(1, sizeof *o);
    if (o != NULL)
        o->connect_timeout = 10.0;
    return o;
}

/* Frees the token after wiping it, so it does not linger in freed heap memory. */
static void cl_options_drop_token(condd_options *opts)
{
    if (opts->token != NULL) {
        explicit_bzero(opts->token, strlen(opts->token));
        free(opts->token);
        opts->token = NULL;
    }
}

void condd_options_free(condd_options *opts)
{
    if (opts == NULL)
        return;
    free(opts->client_name);
    cl_options_drop_token(opts);
    free(opts->tls_ca);
    free(opts->tls_cert);
    free(opts->tls_key);
    free(opts->tls_server_name);
    free(opts);
}

int condd_options_set_client_name(condd_options *opts, const char *name)
{
    if (opts == NULL)
        return CONDD_ERR_INVALID;
    char *copy = NULL;
    if (name != NULL && (copy = strdup(name)) == NULL)
        return CONDD_ERR_NOMEM;
    free(opts->client_name);
    opts->client_name = copy;
    return CONDD_OK;
}

int condd_options_set_session_timeout(condd_options *opts, double seconds)
{
    if (opts == NULL || !isfinite(seconds) || seconds < 0)
        return CONDD_ERR_INVALID;
    opts->session_timeout = seconds;
    opts->session_timeout_set = true;
    return CONDD_OK;
}

int condd_options_set_grace(condd_options *opts, double seconds)
{
    if (opts == NULL || !isfinite(seconds) || seconds < 0)
        return CONDD_ERR_INVALID;
    opts->grace = seconds;
    return CONDD_OK;
}

int condd_options_set_reconnect(condd_options *opts, bool on)
{
    if (opts == NULL)
        return CONDD_ERR_INVALID;
    opts->no_reconnect = !on;
    return CONDD_OK;
}

int condd_options_set_connect_timeout(condd_options *opts, double seconds)
{
    if (opts == NULL || !isfinite(seconds) || seconds <= 0)
        return CONDD_ERR_INVALID;
    opts->connect_timeout = seconds;
    return CONDD_OK;
}

int condd_options_set_token(condd_options *opts, const char *token)
{
    if (opts == NULL)
        return CONDD_ERR_INVALID;
    char *copy = NULL;
    if (token != NULL && (copy = strdup(token)) == NULL)
        return CONDD_ERR_NOMEM;
    cl_options_drop_token(opts);
    opts->token = copy;
    return CONDD_OK;
}

int condd_options_set_token_file(condd_options *opts, const char *path)
{
    if (opts == NULL || path == NULL)
        return CONDD_ERR_INVALID;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        cl_set_global_message("cannot read the token file %s: %s", path, strerror(errno));
        return CONDD_ERR_INVALID;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool err = ferror(f) != 0;
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    int rc = CONDD_OK;
    if (err || buf[0] == '\0') {
        cl_set_global_message("the token file %s %s", path,
                              err ? "cannot be read" : "has no token on its first line");
        rc = CONDD_ERR_INVALID;
    } else {
        rc = condd_options_set_token(opts, buf);
    }
    explicit_bzero(buf, sizeof buf);
    return rc;
}

/* Replaces *field with a copy of value (NULL clears it). */
static int cl_options_set_string(condd_options *opts, char **field, const char *value)
{
    if (opts == NULL || (value != NULL && *value == '\0'))
        return CONDD_ERR_INVALID;
    char *copy = NULL;
    if (value != NULL && (copy = strdup(value)) == NULL)
        return CONDD_ERR_NOMEM;
    free(*field);
    *field = copy;
    return CONDD_OK;
}

int condd_options_set_tls_ca(condd_options *opts, const char *path)
{
    return cl_options_set_string(opts, opts != NULL ? &opts->tls_ca : NULL, path);
}

int condd_options_set_tls_cert(condd_options *opts, const char *path)
{
    return cl_options_set_string(opts, opts != NULL ? &opts->tls_cert : NULL, path);
}

int condd_options_set_tls_key(condd_options *opts, const char *path)
{
    return cl_options_set_string(opts, opts != NULL ? &opts->tls_key : NULL, path);
}

int condd_options_set_tls_server_name(condd_options *opts, const char *name)
{
    return cl_options_set_string(opts, opts != NULL ? &opts->tls_server_name : NULL, name);
}
