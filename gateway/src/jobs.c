/* jobs.c - the worker threads of jobs.h: one FIFO under one mutex; the queue's nodes are the
 * callers', so submitting never allocates. */
#include "jobs.h"

#include <pthread.h>
#include <stdlib.h>

struct fv_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fv_job *head, *tail;
    bool stopping;
    size_t nthreads;
    pthread_t threads[];
};

static void *worker(void *arg)
{
    fv_jobs *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        fv_job *j = p->head;
        if (!j)
            break; /* stopping and nothing left */
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg); /* j may be freed by now */
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

fv_jobs *fv_jobs_create(size_t threads)
{
    if (threads == 0)
        threads = 1;
    fv_jobs *p = calloc(1, sizeof *p + threads * sizeof p->threads[0]);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0)
            break;
    if (p->nthreads == 0) {
        fv_jobs_destroy(p);
        return NULL;
    }
    return p;
}

bool fv_jobs_submit(fv_jobs *p, fv_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    bool ok = !p->stopping;
    if (ok) {
        if (p->tail)
            p->tail->next = job;
        else
            p->head = job;
        p->tail = job;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void fv_jobs_drain(fv_jobs *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    /* only the thread that drains joins; threads are never started again */
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void fv_jobs_destroy(fv_jobs *p)
{
    if (!p)
        return;
    fv_jobs_drain(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
