/* bench_req.h - realistic, varied Postfix policy requests for the load
 * generator. See bench_req.c for the contract. */
#ifndef PORTREEVE_BENCH_REQ_H
#define PORTREEVE_BENCH_REQ_H

#include <stddef.h>
#include <stdint.h>

struct bench_req_set;

/* How the generated requests are spread over the cases the port rules
 * distinguish (counts over the generated set). */
struct bench_req_mix {
    size_t total;
    size_t port25, port587, port465;
    size_t with_context; /* policy_context names the role */
    size_t onnet, ipv6;
    size_t authed, tls;
    size_t local_rcpt;
    size_t eom; /* protocol_state=END-OF-MESSAGE, else RCPT */
};

struct bench_req_set *bench_req_new(void);
void bench_req_free(struct bench_req_set *s);

/* Add every request of a Postfix request dump (name=value lines, requests
 * separated by an empty line, '#' lines ignored). 0, or -1 with ERR. */
int bench_req_load_file(struct bench_req_set *s, const char *path, char *err, size_t errlen);
/* bench_req_load_file() on every *.txt in DIR, in name order. */
int bench_req_load_dir(struct bench_req_set *s, const char *dir, char *err, size_t errlen);

/* Build COUNT variants from the loaded requests (RCPT and END-OF-MESSAGE
 * ones serve as templates), deterministically from SEED. 0 or -1 with ERR. */
int bench_req_generate(struct bench_req_set *s, size_t count, uint64_t seed, char *err,
                       size_t errlen);

size_t bench_req_count(const struct bench_req_set *s);
/* Request I (0 <= I < count), wire format ending in the empty line. */
const char *bench_req_get(const struct bench_req_set *s, size_t i, size_t *len);
void bench_req_mix(const struct bench_req_set *s, struct bench_req_mix *mix);

#endif
