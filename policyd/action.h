/*
 * action - which replies portreeve-policyd may send to Postfix.
 *
 * Postfix treats an unknown first word as a restriction name: the client
 * gets "451 4.3.5 Server configuration error" and the postmaster a notice.
 * So every configured action is checked here at start-up, and only the
 * documented access(5) actions pass. OK, RELAY and all-numeric actions are
 * refused outright: they end the restriction list and, placed before
 * reject_unauth_destination, make an open relay.
 */
#ifndef PORTREEVE_ACTION_H
#define PORTREEVE_ACTION_H

#include <stddef.h>

/* 0 if value is an allowed action, else -1 with the reason in err. */
int action_check(const char *value, char *err, size_t errlen);
/* Is the action a rejection/deferral (as opposed to DUNNO, FILTER, INFO...)? */
int action_is_refusal(const char *value);

struct conf_entry;
/* conf_check_fn forms, for key tables: any allowed action; one that must
 * reject or defer. */
int action_conf_check(const struct conf_entry *e, const char *value, char *err, size_t errlen);
int action_conf_check_refusal(const struct conf_entry *e, const char *value, char *err,
                              size_t errlen);

#endif
