/* jobs.h - a few threads that run work an HTTP thread must not wait for: an ingest request waits
 * for its publish acknowledgements, which can take seconds while a stream elects a new leader,
 * and an HTTP thread held that long would stall every request it serves (/readyz, stream opens,
 * other tenants' ingest). The router suspends the connection, submits the job, and the job
 * resumes it when its answer is ready.
 *
 * Jobs start in submission order on any of the threads. Draining the pool refuses new jobs, runs
 * every job already submitted and joins the threads; destroying it frees it.
 */
#ifndef FLOVYN_GW_JOBS_H
#define FLOVYN_GW_JOBS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fv_jobs fv_jobs;

/* A job: fn(arg) runs on a pool thread. The node is the caller's (embedded in whatever the job
 * works on) and must stay valid until fn has returned. */
typedef struct fv_job {
    void (*fn)(void *arg);
    void *arg;
    struct fv_job *next;
} fv_job;

/* NULL when out of memory or no thread could start */
fv_jobs *fv_jobs_create(size_t threads);
/* false once the pool drains: the caller answers the request itself */
bool fv_jobs_submit(fv_jobs *p, fv_job *job);
/* refuses new jobs, finishes the submitted ones, joins the threads; may be called again */
void fv_jobs_drain(fv_jobs *p);
/* drains, then frees */
void fv_jobs_destroy(fv_jobs *p);

#endif
