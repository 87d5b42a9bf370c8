/*
 * decide.c - runs the stages of a decision in order (see decide.h).
 *
 * Stage 1, rules_decide(), is synchronous and final for every refusal. A
 * permit-so-far (DUNNO, or FILTER for content scanning) is where later,
 * asynchronous stages such as quotas hook in; with none configured the
 * rules' answer is the decision.
 */
#include "decide.h"

#include "metrics.h"
#include "quota.h"
#include "util.h"

int decide_request(const struct decide_env *env, const struct proto_request *req,
                   struct decision *d, decide_done_fn done, void *arg)
{
    uint64_t t0 = util_now_us();

    /* Stage 2, quotas (quota.c): RCPT check, END-OF-MESSAGE commit. When it
     * is pending, it observes the metrics itself on completion. */
    if (!rules_decide(env->conf, req, d) && !quota_decide(env, req, d, t0, done, arg))
        return 0;
    metrics_observe(d, util_now_us() - t0);
    return 1;
}
