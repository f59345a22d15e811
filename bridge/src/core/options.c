/* options.c - flags, environment and --help from one table; see options.h. */
#include "flovyn/options.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/log.h"
#include "flovyn/units.h"

static void env_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    const char *pre = "FLOVYN_";
    while (*pre && o + 1 < cap)
        out[o++] = *pre++;
    for (; *name && o + 1 < cap; name++)
        out[o++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    out[o] = '\0';
}

/* `shown` is the spelling the user wrote (an alias names its option's value) */
static fv_status set_value(const fv_option *o, const char *shown, void *cfg, const char *val,
                           const char *origin, fv_err *err)
{
    char *field = (char *)cfg + o->offset;
    fv_status st = FV_OK;
    switch (o->type) {
    case FV_OPT_ALIAS: return fv_err_set(err, FV_EINVAL, "%s %s: alias of an alias", origin, shown);
    case FV_OPT_STRING: *(const char **)field = val; return FV_OK;
    case FV_OPT_BOOL:
        if (!val || !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *(bool *)field = true;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *(bool *)field = false;
        else
            return fv_err_set(err, FV_EINVAL, "%s %s: '%s' is not true or false", origin, shown,
                              val);
        return FV_OK;
    case FV_OPT_INT: {
        errno = 0;
        char *end;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end)
            return fv_err_set(err, FV_EINVAL, "%s %s: '%s' is not an integer", origin, shown, val);
        *(int64_t *)field = v;
        return FV_OK;
    }
    case FV_OPT_DURATION: st = fv_duration_parse(val, (int64_t *)field, err); break;
    case FV_OPT_SIZE: st = fv_size_parse(val, (int64_t *)field, err); break;
    }
    if (st != FV_OK) {
        char pre[128];
        snprintf(pre, sizeof pre, "%s %s: ", origin, shown);
        return fv_err_prefix(err, st, pre);
    }
    return FV_OK;
}

static const fv_option *find(const fv_option *const *tables, size_t ntables, const char *name,
                             size_t n)
{
    for (size_t t = 0; t < ntables; t++)
        for (const fv_option *o = tables[t]; o->name; o++)
            if (strlen(o->name) == n && !strncmp(o->name, name, n))
                return o;
    return NULL;
}

/* the option an entry stands for: itself, or the target of an alias (noted as deprecated) */
static const fv_option *resolve(const fv_option *const *tables, size_t ntables, const fv_option *o,
                                fv_options_result *res, fv_err *err)
{
    if (o->type != FV_OPT_ALIAS)
        return o;
    const fv_option *t = o->dflt ? find(tables, ntables, o->dflt, strlen(o->dflt)) : NULL;
    if (!t || t->type == FV_OPT_ALIAS) {
        fv_err_set(err, FV_EINVAL, "option --%s: alias of no option", o->name);
        return NULL;
    }
    bool seen = false;
    for (int i = 0; i < res->ndeprecated; i++)
        seen |= res->deprecated[i] == o;
    if (!seen && res->ndeprecated < FV_OPT_MAX_DEPRECATED)
        res->deprecated[res->ndeprecated++] = o;
    return t;
}

fv_status fv_options_parse(const fv_option *const *tables, size_t ntables, void *cfg, int argc,
                           char **argv, fv_options_result *res, fv_err *err)
{
    memset(res, 0, sizeof *res);
    /* every default first, then the environment: an alias may come before its option */
    for (size_t t = 0; t < ntables; t++) {
        for (const fv_option *o = tables[t]; o->name; o++) {
            fv_status st;
            if (o->type != FV_OPT_ALIAS && o->dflt &&
                (st = set_value(o, o->name, cfg, o->dflt, "default", err)) != FV_OK)
                return st;
        }
    }
    for (size_t t = 0; t < ntables; t++) {
        for (const fv_option *o = tables[t]; o->name; o++) {
            char env[128];
            env_name(o->name, env, sizeof env);
            const char *v = getenv(env);
            if (!v)
                continue;
            const fv_option *target = resolve(tables, ntables, o, res, err);
            if (!target)
                return FV_EINVAL;
            fv_status st = set_value(target, env, cfg, v, "environment", err);
            if (st != FV_OK)
                return st;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            res->help = true;
            continue;
        }
        if (!strcmp(a, "--")) {
            for (i++; i < argc; i++) {
                if (res->npositional >= FV_OPT_MAX_POSITIONAL)
                    return fv_err_set(err, FV_EINVAL, "too many arguments");
                res->positional[res->npositional++] = argv[i];
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (res->npositional >= FV_OPT_MAX_POSITIONAL)
                return fv_err_set(err, FV_EINVAL, "too many arguments");
            res->positional[res->npositional++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const fv_option *spelled = find(tables, ntables, name, n);
        if (!spelled)
            return fv_err_set(err, FV_EINVAL, "unknown option '--%.*s' (see --help)", (int)n, name);
        const fv_option *o = resolve(tables, ntables, spelled, res, err);
        if (!o)
            return FV_EINVAL;
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type != FV_OPT_BOOL) {
            if (i + 1 >= argc)
                return fv_err_set(err, FV_EINVAL, "option --%s needs a value", spelled->name);
            val = argv[++i];
        }
        char shown[72];
        snprintf(shown, sizeof shown, "--%s", spelled->name);
        fv_status st = set_value(o, shown, cfg, val, "option", err);
        if (st != FV_OK)
            return st;
    }
    return FV_OK;
}

void fv_options_help(const fv_option *const *tables, size_t ntables, FILE *out)
{
    static const char *const tnames[] = {"text", "int", "", "duration", "size"};
    for (size_t t = 0; t < ntables; t++) {
        for (const fv_option *o = tables[t]; o->name; o++) {
            if (o->type == FV_OPT_ALIAS) /* deprecated spellings are not advertised */
                continue;
            char flag[96], env[128];
            snprintf(flag, sizeof flag, "--%s %s", o->name, tnames[o->type]);
            env_name(o->name, env, sizeof env);
            fprintf(out, "  %-34s %s", flag, o->help);
            if (o->dflt)
                fprintf(out, " (default %s)", o->dflt);
            fprintf(out, " [%s]\n", env);
        }
    }
}

void fv_options_warn_deprecated(const fv_options_result *res)
{
    for (int i = 0; i < res->ndeprecated; i++) {
        const fv_option *o = res->deprecated[i];
        char old[96], now[96];
        snprintf(old, sizeof old, "--%s", o->name);
        snprintf(now, sizeof now, "--%s", o->dflt);
        fv_log(FV_LOG_WARN, "options", "deprecated option spelling; it still works for now",
               "option", old, "use", now, NULL);
    }
}
