/*
 * listen - bind the sockets named by policyd_listen.
 *
 * unix:/path  a stream socket; a stale socket at the path is removed (any
 *             other kind of file there is an error, never deleted); mode,
 *             owner and group are applied so that a chrooted smtpd
 *             (unix:private/NAME under the queue directory) can connect.
 * inet:H:P    TCP on host H (a numeric address, "[::1]" or a name) port P.
 * Returns listening, non-blocking, close-on-exec descriptors.
 */
#ifndef PORTREEVE_LISTEN_H
#define PORTREEVE_LISTEN_H

#include <stddef.h>

#define LISTEN_MAX 16

struct listen_fd {
    int fd;
    char name[128]; /* the policyd_listen item, for logs */
    char unix_path[108];
};

/* Bind every item; on error closes what it opened and fills err. */
int listen_open(const char *list, unsigned mode, const char *owner, const char *group,
                struct listen_fd *out, size_t *n, char *err, size_t errlen);
/* Close the descriptors and remove unix socket files we created. */
void listen_close(struct listen_fd *fds, size_t n);

#endif
