/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The result codes of libcondd: their descriptions and names, the mapping from the server's wire
 * statuses, and which codes mean the connection is gone.
 */
#include "config.h"

#include "internal.h"

struct result_text {
    int code;
    const char *name;
    const char *text;
};

static const struct result_text results[] = {
    {CONDD_OK, "CONDD_OK", "success"},
    {CONDD_ERR_TIMEOUT, "CONDD_ERR_TIMEOUT", "timed out"},
    {CONDD_ERR_CANCELLED, "CONDD_ERR_CANCELLED", "cancelled"},
    {CONDD_ERR_NOT_OWNER, "CONDD_ERR_NOT_OWNER", "the owner does not hold the lock"},
    {CONDD_ERR_ALREADY_OWNER, "CONDD_ERR_ALREADY_OWNER", "the owner already holds the lock"},
    {CONDD_ERR_LOCK_MISMATCH, "CONDD_ERR_LOCK_MISMATCH", "the condition is bound to another lock"},
    {CONDD_ERR_BAD_REQUEST, "CONDD_ERR_BAD_REQUEST", "bad request"},
    {CONDD_ERR_LIMIT_EXCEEDED, "CONDD_ERR_LIMIT_EXCEEDED", "a server limit was exceeded"},
    {CONDD_ERR_UNSUPPORTED_VERSION, "CONDD_ERR_UNSUPPORTED_VERSION",
     "the server does not support this protocol version"},
    {CONDD_ERR_SHUTTING_DOWN, "CONDD_ERR_SHUTTING_DOWN", "the server is shutting down"},
    {CONDD_ERR_NOT_FOUND, "CONDD_ERR_NOT_FOUND", "no such pending request"},
    {CONDD_ERR_PROTOCOL, "CONDD_ERR_PROTOCOL", "protocol error"},
    {CONDD_ERR_UNIMPLEMENTED, "CONDD_ERR_UNIMPLEMENTED",
     "the server does not implement this request"},
    {CONDD_ERR_INTERNAL, "CONDD_ERR_INTERNAL", "internal server error"},
    {CONDD_ERR_VALUE_MISMATCH, "CONDD_ERR_VALUE_MISMATCH",
     "the semaphore exists with another value or kind, or the barrier with other parties"},
    {CONDD_ERR_BROKEN, "CONDD_ERR_BROKEN", "the barrier was reset or aborted, or is broken"},
    {CONDD_ERR_UNAUTHENTICATED, "CONDD_ERR_UNAUTHENTICATED",
     "authentication failed (no credential the server accepts)"},
    {CONDD_ERR_PERMISSION_DENIED, "CONDD_ERR_PERMISSION_DENIED", "permission denied"},
    {CONDD_ERR_SESSION_KILLED, "CONDD_ERR_SESSION_KILLED", "an operator ended the session"},
    {CONDD_ERR_SESSION_LOST, "CONDD_ERR_SESSION_LOST",
     "the session could not be resumed: nothing is held any more"},
    {CONDD_ERR_ADDRESS, "CONDD_ERR_ADDRESS", "bad or unresolvable server address"},
    {CONDD_ERR_CONNECT, "CONDD_ERR_CONNECT", "cannot connect to the server"},
    {CONDD_ERR_DISCONNECTED, "CONDD_ERR_DISCONNECTED", "connection to the server lost"},
    {CONDD_ERR_SESSION_EXPIRED, "CONDD_ERR_SESSION_EXPIRED", "session expired"},
    {CONDD_ERR_SERVER_TIMEOUT, "CONDD_ERR_SERVER_TIMEOUT",
     "no answer from the server within the session timeout"},
    {CONDD_ERR_CLOSED, "CONDD_ERR_CLOSED", "client closed"},
    {CONDD_ERR_INVALID, "CONDD_ERR_INVALID", "invalid argument"},
    {CONDD_ERR_NOMEM, "CONDD_ERR_NOMEM", "out of memory"},
    {CONDD_ERR_WRONG_SERVER, "CONDD_ERR_WRONG_SERVER",
     "the name routes to another server of the cluster (the server lists differ)"},
};

static const struct result_text *find(int code)
{
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
        if (results[i].code == code)
            return &results[i];
    return NULL;
}

const char *condd_strerror(int result)
{
    const struct result_text *r = find(result);
    return r != NULL ? r->text : "unknown error";
}

const char *condd_result_name(int result)
{
    const struct result_text *r = find(result);
    return r != NULL ? r->name : "CONDD_ERR_UNKNOWN";
}

bool condd_result_is_connection_error(int result)
{
    switch (result) {
    case CONDD_ERR_CONNECT:
    case CONDD_ERR_DISCONNECTED:
    case CONDD_ERR_SESSION_EXPIRED:
    case CONDD_ERR_SERVER_TIMEOUT:
    case CONDD_ERR_PROTOCOL:
    case CONDD_ERR_UNSUPPORTED_VERSION:
    case CONDD_ERR_CLOSED:
    case CONDD_ERR_SHUTTING_DOWN:
    case CONDD_ERR_UNAUTHENTICATED:
    case CONDD_ERR_SESSION_LOST:
    case CONDD_ERR_SESSION_KILLED:
        return true;
    default:
        return false;
    }
}

const char *condd_version(void)
{
    return PACKAGE_VERSION;
}

int cl_status_result(int wire_status)
{
    if (wire_status == CONDD__V1__STATUS__STATUS_OK)
        return CONDD_OK;
    /* Results stopped mirroring statuses at -19: -20 on are the client's own. */
    if (wire_status == CONDD__V1__STATUS__STATUS_WRONG_SERVER)
        return CONDD_ERR_WRONG_SERVER;
    if (wire_status >= CONDD__V1__STATUS__STATUS_TIMEOUT &&
        wire_status <= CONDD__V1__STATUS__STATUS_SESSION_KILLED)
        return -wire_status;
    return CONDD_ERR_INTERNAL;
}
