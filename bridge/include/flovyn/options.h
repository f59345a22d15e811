/* options.h - one option table feeds flags, environment variables and --help.
 *
 * Each option is a long flag `--nats-url` and an environment variable `FLOVYN_NATS_URL`; the
 * precedence is default < environment < flag. Values are parsed by type (durations "30s", sizes
 * "10G") into a config struct through offsets, so a daemon declares its options once.
 *
 * An idea has one spelling. When a spelling changes, the old one stays as an FV_OPT_ALIAS entry
 * (flag and environment variable both still work), is left out of --help, and is reported in
 * fv_options_result.deprecated so the program can warn once (fv_options_warn_deprecated).
 */
#ifndef FLOVYN_OPTIONS_H
#define FLOVYN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flovyn/status.h"

typedef enum fv_opt_type {
    FV_OPT_STRING = 0, /* const char * (points into argv/environ/default; not copied) */
    FV_OPT_INT,        /* int64_t */
    FV_OPT_BOOL,       /* bool; `--flag` alone = true, or --flag=true|false */
    FV_OPT_DURATION,   /* int64_t milliseconds from "7d", "1h", "30s", "250ms" */
    FV_OPT_SIZE,       /* int64_t bytes from "10G", "512K", "1024" */
    FV_OPT_ALIAS,      /* deprecated spelling: `dflt` names the option it stands for */
} fv_opt_type;

typedef struct fv_option {
    const char *name; /* "nats-url" */
    fv_opt_type type;
    size_t offset;    /* offsetof(config, field) */
    const char *dflt; /* textual default or NULL */
    const char *help;
} fv_option;

#define FV_OPT_MAX_POSITIONAL 16
#define FV_OPT_MAX_DEPRECATED 8

typedef struct fv_options_result {
    int npositional;
    const char *positional[FV_OPT_MAX_POSITIONAL];
    bool help; /* --help or -h was given */
    /* deprecated spellings that were used (flag or environment), each once */
    int ndeprecated;
    const fv_option *deprecated[FV_OPT_MAX_DEPRECATED];
} fv_options_result;

/* tables: an array of ntables option tables (e.g. common + subcommand), each terminated by an
 * entry with name == NULL. Unknown flags and bad values are FV_EINVAL with a message naming them.
 */
fv_status fv_options_parse(const fv_option *const *tables, size_t ntables, void *cfg, int argc,
                           char **argv, fv_options_result *res, fv_err *err);
void fv_options_help(const fv_option *const *tables, size_t ntables, FILE *out);
/* Logs one warning line per deprecated spelling in res, naming the one to use instead. */
void fv_options_warn_deprecated(const fv_options_result *res);

#endif
