/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers for the service tests (check_service.c): a small client on the frame codec alone,
 * daemon processes with their own scratch directory, log and port file (PR_SET_PDEATHSIG so a
 * failing test leaves none behind), and the sd_notify datagram socket a test listens on.
 */
#ifndef CONDD_TESTS_SERVICE_UTIL_H
#define CONDD_TESTS_SERVICE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "condd.pb-c.h"

/* Generous: sanitizer builds on a loaded CI machine are slow to start. */
#define START_TIMEOUT 20.0
#define REPLY_TIMEOUT 10.0

struct cl {
    int fd;
    uint8_t buf[1 << 20];
    size_t len;
    uint64_t next_id;
    uint64_t sent;     /* bytes written */
    uint64_t received; /* bytes of whole frames decoded */
};

struct proc {
    pid_t pid;
    char dir[64];
    char log[128]; /* the process's stdout and stderr */
    char portfile[128];
    char sock[128]; /* a Unix socket path in dir */
    char conf[128]; /* a config file path in dir */
    int port;
};

struct log_wait {
    const struct proc *p;
    const char *needle;
};

struct notify_sock {
    int fd;
    char path[100]; /* fits sun_path */
    char env[128];  /* "NOTIFY_SOCKET=path" */
};

struct cl *cl_new(int fd);
struct cl *cl_tcp(int port);
int unix_connect(const char *path);
void cl_free(struct cl *c);
Condd__V1__Response *cl_recv(struct cl *c, double timeout);
void cl_resp_free(Condd__V1__Response *r);
Condd__V1__Response *cl_call(struct cl *c, Condd__V1__Request *req);
double cl_hello(struct cl *c); /* the session timeout the daemon granted */
/* cl_hello(), also giving the daemon's frame limit from the Hello reply. */
double cl_hello_limits(struct cl *c, uint32_t *max_frame_bytes);
int cl_ping(struct cl *c);
int cl_acquire(struct cl *c, const char *lock, uint64_t owner, const double *timeout);
int cl_release(struct cl *c, const char *lock, uint64_t owner);
void proc_init(struct proc *p);
void proc_spawn(struct proc *p, const char *const *argv, const char *const *env);
void proc_condd(struct proc *p, const char *const *args, const char *const *env);
bool proc_read_port(struct proc *p);
int proc_wait_exit(struct proc *p, double timeout);
bool proc_wait_port(struct proc *p, int *status);
void proc_signal(struct proc *p, int sig);
void proc_stop_clean(struct proc *p);
void proc_cleanup(struct proc *p);
char *proc_log(const struct proc *p);
bool proc_log_has(const struct proc *p, const char *needle);
bool log_wait_pred(void *arg);
void proc_wait_log(const struct proc *p, const char *needle);
void write_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int free_port(void);
void notify_open(struct notify_sock *n, const struct proc *p);
bool notify_recv(struct notify_sock *n, char *buf, size_t len, double timeout);
void notify_expect(struct notify_sock *n, const char *needle, char *buf, size_t len);
bool line_is(const char *msg, const char *line);
uint64_t cl_send(struct cl *c, Condd__V1__Request *req);
uint64_t cl_acquire_send(struct cl *c, const char *lock, uint64_t owner, const double *timeout);
uint64_t cl_wait_send(struct cl *c, const char *cond, const char *lock, uint64_t owner);

#endif
