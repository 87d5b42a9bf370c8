/*
 * fixture - real Postfix policy requests for tests (tests/data/postfix-3.7).
 *
 * A capture file holds requests exactly as Postfix 3.7.11 sent them,
 * with comment lines starting with "#" added by the capture harness.
 * fixture_load() strips the comments (the result, "wire", is what went
 * over the socket) and splits the requests itself, without the parser
 * under test, so the parser's output can be compared with an independent
 * reading of the same bytes.
 *
 * fixture_request() gives a mutable copy of one captured request (through
 * the real parser) for rule tests, which then change single attributes
 * with fixture_set(). Everything returned is heap memory owned by the
 * caller; the fixture_*_free() functions release it. Failures abort the
 * test program: this is test code, and a missing fixture is a broken tree.
 */
#ifndef PORTREEVE_TEST_FIXTURE_H
#define PORTREEVE_TEST_FIXTURE_H

#include <stddef.h>

#include "proto.h"

struct fixture_attr {
    char *name;
    char *value;
};

struct fixture_req {
    struct fixture_attr *attr;
    size_t nattr;
    size_t bytes; /* on the wire, empty line included */
};

struct fixture_file {
    char *path;
    char *wire; /* the file without comment lines */
    size_t wire_len;
    struct fixture_req *req;
    size_t nreq;
};

/* The capture files (*.txt) in dir, sorted; free with fixture_list_free. */
char **fixture_list(const char *dir, size_t *n);
void fixture_list_free(char **list, size_t n);

void fixture_load(const char *path, struct fixture_file *f);
void fixture_free(struct fixture_file *f);
/* Value of name in a request (first one wins), or NULL. */
const char *fixture_value(const struct fixture_req *r, const char *name);

/* A request whose values tests may change. */
struct fixture_copy {
    struct proto_request r;
    char *val[PA_COUNT];
};

/* The first request in the file in protocol state state (e.g. "RCPT"). */
void fixture_request(const char *path, const char *state, struct fixture_copy *out);
/* Set an attribute (as if Postfix had sent name=value). */
void fixture_set(struct fixture_copy *c, enum proto_attr a, const char *value);
/* Apply "name=value" lines (newline-separated) with fixture_set. */
void fixture_set_lines(struct fixture_copy *c, const char *lines);
void fixture_copy_free(struct fixture_copy *c);

/* Read a whole file; aborts on error. */
char *fixture_slurp(const char *path, size_t *len);
/* Write text to a new temporary file; returns its path (free it, unlink it). */
char *fixture_tmpfile(const char *text);

#endif
