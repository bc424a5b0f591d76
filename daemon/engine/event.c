/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named events with asyncio.Event semantics: Set, Clear, IsSet, Wait over the event entries
 * (kept by qentry.c, with their FIFO queues of pending EventWaits, waiter kind EW_EVENT), and
 * the cancel, drop (session end) and shutdown paths of a pending EventWait. An entry exists
 * while the event is set or waited for: a clear event without waiters takes no memory. Events
 * are not owned, so a set event outlives the session that set it; the number of events set at
 * once is capped engine-wide at the pending limit (engine_limits.max_pending_per_session), so a
 * flood of sets from any number of sessions cannot grow memory without bound.
 */
#include "config.h"

#include "engine_internal.h"

/* An event's entry is a struct eqentry of kind EW_EVENT (qentry.c), sticky while set. */

bool eevent_key_eq(const struct table_node *node, const void *key, size_t len)
{
    return eqentry_key_eq(node, key, len);
}

void eevent_free_all(struct engine *e)
{
    eqentry_free_all(e, EW_EVENT);
}

void eevent_cancel_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_CANCELLED, true);
}

void eevent_drop_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_OK, false);
}

void eevent_shutdown_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_SHUTTING_DOWN, true);
}

/* ================================================================== operations */

enum engine_status engine_event_set(struct engine *e, const uint8_t *name, size_t len,
                                    uint64_t *woken, const char **message)
{
    *woken = 0;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    struct eqentry *ev = eqentry_find(e, EW_EVENT, name, len);
    if (ev != NULL && ev->sticky)
        return ENGINE_OK;
    if (e->st.events_set >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED, "too many events set");
    if (ev == NULL) {
        ev = eqentry_create(e, EW_EVENT, name, len);
        if (ev == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    eqentry_set_sticky(e, EW_EVENT, ev, true);
    /* Every waiter is answered now, so none can be woken twice or cancelled afterwards: a
     * woken wait answers OK even if a clear follows before the client reads it (asyncio). */
    uint64_t n = 0;
    while (ev->q_head != NULL) {
        struct ewaiter *w = ev->q_head;
        if (!w->s->closing)
            n++;
        eqentry_answer(w, ENGINE_OK, 0);
    }
    *woken = n;
    return ENGINE_OK;
}

enum engine_status engine_event_clear(struct engine *e, const uint8_t *name, size_t len,
                                      const char **message)
{
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    struct eqentry *ev = eqentry_find(e, EW_EVENT, name, len);
    if (ev != NULL && ev->sticky) {
        eqentry_set_sticky(e, EW_EVENT, ev, false);
        eqentry_trim(e, EW_EVENT, ev);
    }
    return ENGINE_OK;
}

enum engine_status engine_event_is_set(struct engine *e, const uint8_t *name, size_t len, bool *set,
                                       const char **message)
{
    *set = false;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid event name");
    const struct eqentry *ev = eqentry_find(e, EW_EVENT, name, len);
    *set = ev != NULL && ev->sticky;
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
    struct eqentry *ev = eqentry_find(e, EW_EVENT, name, len);
    if (ev != NULL && ev->sticky)
        return ENGINE_OK;
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "timed out");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    bool created = false;
    if (ev == NULL) {
        ev = eqentry_create(e, EW_EVENT, name, len);
        if (ev == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        created = true;
    }
    struct ewaiter *w = engine_waiter_new(s, req_id, 0, EW_EVENT, !forever, eqentry_timer_cb);
    if (w == NULL) {
        if (created)
            eqentry_destroy(e, EW_EVENT, ev);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    eqentry_enqueue(ev, w);
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

/* ================================================================== introspection */

struct event_visit {
    void (*on_event)(void *arg, const struct engine_event_info *);
    void *arg;
};

static void event_visit(void *arg, const struct eqentry *ev)
{
    const struct event_visit *v = arg;
    struct engine_event_info info = {
        .name = ev->name,
        .name_len = ev->name_len,
        .set = ev->sticky,
        .waiters = ev->nwaiters,
    };
    if (v->on_event != NULL)
        v->on_event(v->arg, &info);
}

bool engine_list_events(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                        size_t limit, void (*on_event)(void *arg, const struct engine_event_info *),
                        void *arg)
{
    struct event_visit v = {on_event, arg};
    return eqentry_list(e, EW_EVENT, prefix, prefix_len, limit, event_visit, &v);
}
