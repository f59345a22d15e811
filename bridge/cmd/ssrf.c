/* ssrf.c - address classification and the connect-time check for webhook deliveries; see ssrf.h.
 *
 * The classifier is a deny list of the ranges that reach "inside" (loopback, RFC 1918, shared
 * address space, link-local with the metadata endpoint, unique-local, multicast and reserved),
 * applied to the numeric address, so no spelling of a host (decimal, octal, IPv4-mapped IPv6,
 * NAT64) gets around it. Everything outside the list is treated as public.
 */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *classify_v4(uint32_t a) /* host byte order */
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 0)
        return "unspecified";
    if (b0 == 10)
        return "private";
    if (b0 == 100 && (b1 & 0xC0) == 64)
        return "shared";
    if (b0 == 127)
        return "loopback";
    if (a == 0xA9FEA9FEu) /* 169.254.169.254 */
        return "metadata";
    if (b0 == 169 && b1 == 254)
        return "link-local";
    if (b0 == 172 && (b1 & 0xF0) == 16)
        return "private";
    if (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0)
        return "reserved";
    if (b0 == 192 && b1 == 168)
        return "private";
    if (b0 == 198 && (b1 & 0xFE) == 18)
        return "reserved";
    if ((b0 & 0xF0) == 224)
        return "multicast";
    if ((b0 & 0xF0) == 240)
        return "reserved";
    return NULL;
}

static uint32_t v4_at(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const char *classify_v6(const uint8_t *a)
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return classify_v4(v4_at(a + 12));
    if (memcmp(a, zero, 15) == 0)
        return a[15] == 0 ? "unspecified" : a[15] == 1 ? "loopback" : "reserved";
    if (memcmp(a, zero, 12) == 0) /* deprecated IPv4-compatible ::a.b.c.d */
        return "reserved";
    if ((a[0] & 0xFE) == 0xFC)
        return "unique-local";
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)
        return "link-local";
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) /* deprecated site-local */
        return "private";
    if (a[0] == 0xFF)
        return "multicast";
    return NULL;
}

const char *fv_ssrf_classify(const struct sockaddr *sa)
{
    if (!sa)
        return "invalid";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return classify_v4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return classify_v6(in6->sin6_addr.s6_addr);
    }
    return "reserved"; /* unix sockets and anything else are never a webhook target */
}

const char *fv_ssrf_classify_text(const char *addr)
{
    /* classify the parsed bytes directly: building a sockaddr_in and reading it back through a
     * struct sockaddr pointer is an aliasing violation that -O2 miscompiles */
    struct in_addr in;
    struct in6_addr in6;
    if (addr && inet_pton(AF_INET, addr, &in) == 1)
        return classify_v4(ntohl(in.s_addr));
    if (addr && inet_pton(AF_INET6, addr, &in6) == 1)
        return classify_v6(in6.s6_addr);
    return "invalid";
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *p = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, p, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

fv_status fv_ssrf_check_url(const char *url, bool allow_private, fv_err *err)
{
    CURLU *u = curl_url();
    if (!u)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    char *scheme = NULL, *host = NULL;
    fv_status st = FV_OK;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        st = fv_err_set(err, FV_EINVAL, "url: '%s' is not a valid URL", url);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        st = fv_err_set(err, FV_EINVAL, "url: scheme '%s' is not http or https", scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        st = fv_err_set(err, FV_EINVAL, "url: '%s' has no host", url);
        goto out;
    }
    if (allow_private)
        goto out;
    /* curl returns IPv6 literals in brackets */
    char name[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        snprintf(name, sizeof name, "%.*s", (int)(hl - 2), host + 1);
        char *pct = strchr(name, '%'); /* zone id */
        if (pct)
            *pct = '\0';
    } else {
        snprintf(name, sizeof name, "%s", host);
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        st = fv_err_set(err, FV_EUNAVAIL, "url: host '%s' does not resolve: %s", name,
                        gai_strerror(rc));
        goto out;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        const char *cls = fv_ssrf_classify(ai->ai_addr);
        if (cls) {
            char a[INET6_ADDRSTRLEN];
            addr_text(ai->ai_addr, a, sizeof a);
            st = fv_err_set(err, FV_EINVAL,
                            "url: host '%s' resolves to %s, a %s address; webhooks may not reach "
                            "internal networks (use --allow-private to permit it)",
                            name, a, cls);
            break;
        }
    }
    freeaddrinfo(res);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return st;
}

static curl_socket_t guarded_open(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *address)
{
    fv_ssrf_guard *g = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    const char *cls = fv_ssrf_classify(&address->addr);
    if (cls && !g->allow_private) {
        char a[INET6_ADDRSTRLEN];
        addr_text(&address->addr, a, sizeof a);
        g->refused = true;
        snprintf(g->refused_why, sizeof g->refused_why, "refused to connect to %s (%s address)", a,
                 cls);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

void fv_ssrf_apply(CURL *h, fv_ssrf_guard *guard)
{
    guard->refused = false;
    guard->refused_why[0] = '\0';
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, guarded_open);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, guard);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
}
