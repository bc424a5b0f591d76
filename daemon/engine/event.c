/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named events with asyncio.Event semantics: the event entries in the engine's event table,
 * their FIFO queues of pending EventWaits (waiter kind EW_EVENT), Set, Clear, IsSet, Wait, and
 * the cancel, drop (session end) and shutdown paths of a pending EventWait. An entry exists
 * while the event is set or waited for: a clear event without waiters takes no memory. Events
 * are not owned, so a set event outlives the session that set it; the number of events set at
 * once is capped engine-wide at the pending limit (engine_limits.max_pending_per_session), so a
 * flood of sets from any number of sessions cannot grow memory without bound.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* An event that is set or waited for. The name follows inline. */
struct eevent {
    struct table_node node;          /* in e->events */
    struct eevent *a_prev, *a_next;  /* e->events_all */
    struct ewaiter *q_head, *q_tail; /* pending EventWaits, oldest first */
    uint64_t nwaiters;
    bool set;
    uint16_t name_len;
    uint8_t name[];
};

/* ================================================================== entries */

bool eevent_key_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct eevent *ev = ENGINE_CONTAINER_OF(node, struct eevent, node);
    return ev->name_len == len && memcmp(ev->name, key, len) == 0;
}

static struct eevent *eevent_find(struct engine *e, const uint8_t *name, size_t len)
{
    struct table_node *n = table_find(e->events, name, len, table_hash(e->events, name, len));
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct eevent, node);
}

static struct eevent *eevent_create(struct engine *e, const uint8_t *name, size_t len)
{
    struct eevent *ev = calloc(1, sizeof *ev + len);
    if (ev == NULL)
        return NULL;
    memcpy(ev->name, name, len);
    ev->name_len = (uint16_t)len;
    if (!table_insert(e->events, &ev->node, table_hash(e->events, name, len))) {
        free(ev);
        return NULL;
    }
    ev->a_next = e->events_all;
    if (e->events_all != NULL)
        e->events_all->a_prev = ev;
    e->events_all = ev;
    e->st.events++;
    engine_account(e, (long)(sizeof *ev + len));
    return ev;
}

static void eevent_destroy(struct engine *e, struct eevent *ev)
{
    table_remove(e->events, &ev->node);
    if (ev->a_prev != NULL)
        ev->a_prev->a_next = ev->a_next;
    else
        e->events_all = ev->a_next;
    if (ev->a_next != NULL)
        ev->a_next->a_prev = ev->a_prev;
    if (ev->set)
        e->st.events_set--;
    e->st.events--;
    engine_account(e, -(long)(sizeof *ev + ev->name_len));
    free(ev);
}

/* Frees ev when it no longer needs an entry: clear and unwaited. */
static void eevent_trim(struct engine *e, struct eevent *ev)
{
    if (!ev->set && ev->nwaiters == 0)
        eevent_destroy(e, ev);
}

void eevent_free_all(struct engine *e)
{
    while (e->events_all != NULL)
        eevent_destroy(e, e->events_all);
}

/* ================================================================== waiters */

/* Takes w out of its event's queue; returns the event (not freed). */
static struct eevent *eventq_remove(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    struct eevent *ev = w->event;
    ewq_unlink(&ev->q_head, &ev->q_tail, w);
    ev->nwaiters--;
    e->st.event_waiters--;
    w->event = NULL;
    return ev;
}

/* Answers w with status (no reply when its session ended), frees it and trims its event. */
static void eevent_finish(struct ewaiter *w, enum engine_status status, bool reply)
{
    struct engine *e = w->s->e;
    struct eevent *ev = eventq_remove(w);
    if (reply)
        engine_deliver(e, w, status, 0);
    engine_waiter_free(w);
    eevent_trim(e, ev);
}

static void event_timer_cb(void *arg)
{
    eevent_finish(arg, ENGINE_TIMEOUT, true);
}

void eevent_cancel_wait(struct ewaiter *w)
{
    eevent_finish(w, ENGINE_CANCELLED, true);
}

void eevent_drop_wait(struct ewaiter *w)
{
    eevent_finish(w, ENGINE_OK, false);
}

void eevent_shutdown_wait(struct ewaiter *w)
{
    eevent_finish(w, ENGINE_SHUTTING_DOWN, true);
}

/* ================================================================== operations */

enum engine_status engine_event_set(struct engine *e, const uint8_t *name, size_t len,
                                    uint64_t *woken, const char **message)
{
    *woken = 0;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    struct eevent *ev = eevent_find(e, name, len);
    if (ev != NULL && ev->set)
        return ENGINE_OK;
    if (e->st.events_set >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED, "too many events set");
    if (ev == NULL) {
        ev = eevent_create(e, name, len);
        if (ev == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    ev->set = true;
    e->st.events_set++;
    /* Every waiter is answered now, so none can be woken twice or cancelled afterwards: a
     * woken wait answers OK even if a clear follows before the client reads it (asyncio). */
    uint64_t n = 0;
    while (ev->q_head != NULL) {
        struct ewaiter *w = ev->q_head;
        if (!w->s->closing)
            n++;
        eventq_remove(w);
        engine_deliver(e, w, ENGINE_OK, 0);
        engine_waiter_free(w);
    }
    *woken = n;
    return ENGINE_OK;
}

enum engine_status engine_event_clear(struct engine *e, const uint8_t *name, size_t len,
                                      const char **message)
{
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    struct eevent *ev = eevent_find(e, name, len);
    if (ev != NULL && ev->set) {
        ev->set = false;
        e->st.events_set--;
        eevent_trim(e, ev);
    }
    return ENGINE_OK;
}

enum engine_status engine_event_is_set(struct engine *e, const uint8_t *name, size_t len, bool *set,
                                       const char **message)
{
    *set = false;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    struct eevent *ev = eevent_find(e, name, len);
    *set = ev != NULL && ev->set;
    return ENGINE_OK;
}

enum engine_status engine_event_wait(struct esession *s, uint64_t req_id, const uint8_t *name,
                                     size_t len, const double *timeout, const char **message)
{
    struct engine *e = s->e;
    if (e->shutting_down)
        return engine_fail(message, ENGINE_SHUTTING_DOWN, "server shutting down");
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    bool forever;
    double seconds;
    enum engine_status st = engine_check_wait_args(s, req_id, timeout, &forever, &seconds, message);
    if (st != ENGINE_OK)
        return st;
    struct eevent *ev = eevent_find(e, name, len);
    if (ev != NULL && ev->set)
        return ENGINE_OK;
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "timed out");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    bool created = false;
    if (ev == NULL) {
        ev = eevent_create(e, name, len);
        if (ev == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        created = true;
    }
    struct ewaiter *w = engine_waiter_new(s, req_id, 0, EW_EVENT, !forever, event_timer_cb);
    if (w == NULL) {
        if (created)
            eevent_destroy(e, ev);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    w->event = ev;
    ewq_append(&ev->q_head, &ev->q_tail, w);
    ev->nwaiters++;
    e->st.event_waiters++;
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

/* ================================================================== introspection */

bool engine_list_events(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                        size_t limit, void (*on_event)(void *arg, const struct engine_event_info *),
                        void *arg)
{
    struct table_iter it;
    size_t seen = 0;
    table_iter_init(&it, e->events);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct eevent *ev = ENGINE_CONTAINER_OF(n, struct eevent, node);
        if (prefix_len > ev->name_len ||
            (prefix_len > 0 && memcmp(ev->name, prefix, prefix_len) != 0))
            continue;
        if (seen == limit)
            return true;
        seen++;
        struct engine_event_info info = {
            .name = ev->name,
            .name_len = ev->name_len,
            .set = ev->set,
            .waiters = ev->nwaiters,
        };
        if (on_event != NULL)
            on_event(arg, &info);
    }
    return false;
}
