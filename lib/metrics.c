/* metrics: flop counts, the CPU peak, clocks and memory. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "metrics.h"
#include "models.h"

FlopCount metrics_flops(const ModelDims *d, int seq_length)
{
    FlopCount f;
    int64_t embed = (int64_t)d->vocab_size * d->hidden_size;
    f.n_params = models_num_params(d);
    f.n_params_no_embed = f.n_params - embed - (d->tie_word_embeddings ? 0 : embed);
    double attn = 12.0 * d->num_hidden_layers * d->hidden_size * (double)seq_length;
    f.flops_per_token = 6.0 * (double)f.n_params + attn;
    f.flops_per_token_causal = 6.0 * (double)f.n_params + attn / 2.0;
    return f;
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double metrics_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f)
        return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}
