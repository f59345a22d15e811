/* auth.h - who is calling: JWT verification, token sources and minting (CONTRACT §5).
 *
 * The tenant comes from the token only. libjwt 1.10 accepts algorithm confusion and does not check
 * `exp`, so the configured key fixes the algorithm and exp/nbf are checked here, at the request and
 * again during a stream (fv_principal.exp_ms).
 */
#ifndef FLOVYN_GW_AUTH_H
#define FLOVYN_GW_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "flovyn/id.h"
#include "flovyn/status.h"
#include "flovyn/types_filter.h"

struct MHD_Connection;

typedef struct fv_auth fv_auth;

typedef struct fv_auth_config {
    const char *mode;            /* "jwt" (default) or "none" */
    const char *secret_file;     /* HS256 */
    const char *public_key_file; /* RS256 / ES256 (PEM) */
} fv_auth_config;

typedef struct fv_principal {
    char tenant_id[FV_ID_MAX + 1];
    bool can_read;            /* scope events:read (or no scope claim) */
    bool can_write;           /* scope events:write (or no scope claim) */
    int64_t exp_ms;           /* 0 = never (auth none) */
    fv_types_filter *allowed; /* `types` claim; NULL = no limit; owned */
} fv_principal;

/* Refuses jwt mode without a key (never open access by accident); mode none logs a warning. */
fv_status fv_auth_create(const fv_auth_config *cfg, fv_auth **out, fv_err *err);
void fv_auth_destroy(fv_auth *a);
bool fv_auth_is_none(const fv_auth *a);

/* Verifies a compact JWT: alg equals the configured key's, signature, exp (required), nbf, a valid
 * tenant_id claim, scope, types. FV_EAUTH with a reason on failure. */
fv_status fv_auth_verify(fv_auth *a, const char *token, fv_principal *out, fv_err *err);

/* Finds the token of a request: Authorization: Bearer, then the access_token query parameter, then
 * (GET only) the flovyn_token cookie; in mode none the X-Flovyn-Tenant header. FV_EAUTH (401) when
 * missing or invalid. */
fv_status fv_auth_request(fv_auth *a, struct MHD_Connection *conn, bool is_get, fv_principal *out,
                          fv_err *err);

void fv_principal_clear(fv_principal *p);

/* Signs an HS256 token; returns a malloc'd string. scope / types may be NULL. */
fv_status fv_auth_mint_hs256(const char *secret, size_t secret_len, const char *tenant_id,
                             int64_t ttl_ms, const char *scope, const char *types, char **out,
                             fv_err *err);

/* Mints a token with the gateway's own HS256 secret (demo mode's GET /demo/token). FV_ENOTSUP
 * when the gateway verifies with a public key or runs with --auth none. */
fv_status fv_auth_mint(const fv_auth *a, const char *tenant_id, int64_t ttl_ms, const char *scope,
                       const char *types, char **out, fv_err *err);

/* `flovyn-gateway token --tenant T --ttl 1h --jwt-secret-file F [--scope ...] [--types ...]` */
int fv_auth_token_main(int argc, char **argv);

/* Copies url into out with the value of every access_token parameter replaced by "REDACTED". */
void fv_redact_url(const char *url, char *out, size_t cap);

#endif
