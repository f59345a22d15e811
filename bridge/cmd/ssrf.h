/* ssrf.h - keeps webhook deliveries away from the bridge's own network (server-side request
 * forgery).
 *
 * A subscriber chooses the URL, so without a check anyone allowed to add a subscription could
 * make the bridge POST to loopback services, the cloud metadata endpoint or the private network.
 * The decisive check is on the address curl actually connects to (CURLOPT_OPENSOCKETFUNCTION),
 * because a host name may resolve differently at delivery time than when it was checked
 * (DNS rebinding); the check at `subscriptions add` only gives an early, clear refusal.
 */
#ifndef FLOVYN_SSRF_H
#define FLOVYN_SSRF_H

#include <stdbool.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "flovyn/status.h"

/* NULL when the address is public; otherwise a short name of its class ("loopback", "private",
 * "link-local", "metadata", "shared", "unspecified", "unique-local", "multicast", "reserved").
 * IPv4-mapped IPv6 addresses are classified by their IPv4 part. */
const char *fv_ssrf_classify(const struct sockaddr *sa);
/* Same for a textual address ("10.1.2.3", "::1"); "invalid" when it is not an address. */
const char *fv_ssrf_classify_text(const char *addr);

/* Resolves the host of an http(s) URL and refuses (FV_EINVAL, message naming the host, the
 * address and its class) when any address is not public, unless allow_private. A host that does
 * not resolve is FV_EUNAVAIL. */
fv_status fv_ssrf_check_url(const char *url, bool allow_private, fv_err *err);

/* Per-request state of the connect-time check. */
typedef struct fv_ssrf_guard {
    bool allow_private;
    bool refused; /* set when a connect was refused */
    char refused_why[128];
} fv_ssrf_guard;

/* Sets the connect-time check, no redirects, http/https only and no proxy from the environment
 * (a proxy would make the connected address meaningless) on an easy handle. The guard must
 * outlive the transfer. */
void fv_ssrf_apply(CURL *h, fv_ssrf_guard *guard);

#endif
