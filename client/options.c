/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Connection options (condd_options): an opaque bag of settings read by condd_async_conn_open() and
 * condd_conn_open(), so that settings can be added without changing the ABI.
 */
#include "config.h"

#include <math.h>
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

void condd_options_free(condd_options *opts)
{
    if (opts == NULL)
        return;
    free(opts->client_name);
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
