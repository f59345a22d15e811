/* cmd_workflows.c - `flovyn-bridge workflows get W`: print a workflow's registry entry (owner
 * tenant, parent, status, first sequences) as one JSON object. */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "flovyn/registry.h"

static const char usage[] =
    "usage: flovyn-bridge workflows get <workflow-execution-id>\n"
    "\n"
    "Prints the workflow's entry in the registry (KV bucket FLOVYN_WORKFLOWS) as JSON:\n"
    "tenant_id, parent_workflow_execution_id, status, first_events_seq, first_streams_seq,\n"
    "created_ms, updated_ms. Exit 1 when the workflow is not known, 2 on bad usage.\n"
    "\n"
    "Example:\n"
    "  flovyn-bridge workflows get wf-1\n";

int fv_cmd_workflows(int argc, char **argv)
{
    fv_bridge_common c = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, NULL, &c, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional != 2 || strcmp(res.positional[0], "get") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    const char *wf = res.positional[1];
    fv_err err = {{0}};
    if (fv_id_validate("workflow_execution_id", wf, strlen(wf), &err) != FV_OK) {
        fprintf(stderr, "flovyn-bridge workflows: %s\n", err.msg);
        return 2;
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&c, "flovyn-bridge workflows", &bus)) >= 0)
        return rc;
    fv_registry *reg = NULL;
    fv_registry_entry e;
    fv_status st = fv_registry_open(bus, &reg, &err);
    if (st == FV_OK)
        st = fv_registry_get(reg, wf, &e, &err);
    rc = 1;
    if (st == FV_OK) {
        fv_buf b = FV_BUF_INIT;
        if (fv_registry_entry_to_json(&e, &b) == FV_OK) {
            printf("%s\n", b.data);
            rc = 0;
        }
        fv_buf_free(&b);
    } else {
        fprintf(stderr, "flovyn-bridge workflows: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
    }
    fv_registry_close(reg);
    fv_bus_destroy(bus);
    return rc;
}
