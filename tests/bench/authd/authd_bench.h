/*
 * authd_bench.h - the part the authd load generators share: N threads
 * authenticating users user1..userU (passwords pw-1..pw-U) for D seconds,
 * latency recording and the one result line run_authd_bench.sh parses.
 */
#ifndef AUTHD_BENCH_H
#define AUTHD_BENCH_H

/* Outcome of one authentication, as returned by authd_bench_client.auth. */
enum authd_bench_result {
    AUTHD_BENCH_OK = 0,  /* accepted */
    AUTHD_BENCH_NO = 1,  /* refused */
    AUTHD_BENCH_FAIL = 2 /* no answer (connect, I/O or protocol error) */
};

/*
 * What a load generator plugs in. Each thread calls open(arg) once; NULL
 * means that thread sends nothing. Then auth(conn, user) once per request,
 * user in 1..USERS, until the time is up; then close(conn) if close is set.
 */
struct authd_bench_client {
    void *(*open)(void *arg);
    enum authd_bench_result (*auth)(void *conn, long user);
    void (*close)(void *conn);
    void *arg;
};

int authd_bench_main(const char *label, const char *threads, const char *seconds, const char *users,
                     const struct authd_bench_client *client);

#endif
