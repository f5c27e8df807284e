/* config: the run configuration. Reads picotron's config.json schema (sections distributed,
 * model, training, dataset, checkpoint, logging, environment) plus our explicit model
 * dimensions, optimizer keys and distributed.zero_stage; fills defaults, validates every value
 * and names the JSON key path of the first bad one. Reference: docs/config.md. */
#ifndef PICOTRON_CONFIG_H
#define PICOTRON_CONFIG_H

#include <stdint.h>

#include "error.h"
#include "models.h"

#define CFG_STR 1024

typedef struct {
    struct {
        int tp_size, cp_size, pp_size, dp_size;
        char pp_engine[16];      /* "afab" | "1f1b" */
        char backend[16];        /* "mpi" | "nccl" | "gloo" (CPU: all mean MPI) */
        int use_cpu;
        int zero_stage;          /* 0 | 1 */
        double bucket_size_mb;   /* gradient all-reduce buckets (MiB); 0: one per tensor */
    } distributed;
    struct {
        char name[CFG_STR];      /* preset name, hub name, or local dir holding config.json */
        ModelDims dims;          /* preset, then explicit keys on top */
        char dtype[16];          /* "float32" | "bfloat16" (CPU computes fp32) */
        int use_flash_attention;
        int use_fused_adam;
    } model;
    struct {
        uint64_t seed;
        double learning_rate;
        int total_train_steps;
        int seq_length;          /* T */
        int micro_batch_size;    /* mbs */
        int gradient_accumulation_steps;
        int64_t num_samples;     /* 0: the whole stream */
        int64_t max_tokens;      /* 0: no token limit */
        int skip_memory_check;   /* 1: start even when memplan's estimate exceeds the node */
        char activation_checkpointing[16]; /* "none" | "selective" | "full" (recompute) */
    } training;
    struct {
        double beta1, beta2, eps;
        double weight_decay;
        int decay_norms;         /* 1: decay RMSNorm weights too (PyTorch's default) */
        double grad_clip;        /* 0: no clipping */
        char lr_schedule[16];    /* "constant" | "cosine" (linear warmup, then cosine) */
        int warmup_steps;
        double min_lr;
    } optimizer;
    struct {
        char name[CFG_STR];      /* shard path or glob, or "synthetic" */
        int shuffle;             /* seeded permutation of sample indices, per epoch */
        char validation[CFG_STR];/* "" or a shard path/glob */
        int eval_every;          /* steps between validations (0: never) */
        int eval_samples;        /* samples per validation */
        int num_workers, num_proc;   /* picotron keys, no effect here */
        char subset_name[CFG_STR];
        char split[64];
        char validate[8];        /* "all": every token id before step 1 | "lazy": per shard */
    } dataset;
    struct {
        char save_dir[CFG_STR];
        int save_frequency;
        char load_path[CFG_STR];
        char init_from[CFG_STR];
        char resume[16];         /* "" | "auto" */
        int keep_last;           /* 0: keep all */
        int allow_batch_change;  /* resume with another global batch (the data position is
                                    kept in samples, so sample order shifts) */
    } checkpoint;
    struct {
        int use_wandb;
        char project_name[256];
        char run_name[256];
        char run_dir[CFG_STR];   /* metrics.jsonl goes here; default: the config's directory */
        int log_frequency;
        char trace[CFG_STR];     /* timeline file as --trace FILE ("": none; the flag wins) */
        char trace_steps[32];    /* "A:B" or "A:" as --trace-steps ("": every step) */
        double peak_gflops;      /* the peak MFU is taken against; 0: measured at start-up */
    } logging;
    struct {
        int omp_num_threads;     /* 0: not set (threads = usable cores / local ranks) */
        char tokenizers_parallelism[16];
        char flash_atten[16];
        char hf_token[256];
        char device[8];          /* auto | cpu | cuda (docs/cuda.md) */
        int allow_tf32;          /* fp32 GEMMs on CUDA may use TF32 tensor cores */
    } environment;
} Config;

/* Warnings on stderr on (1, default) or off: ranks other than 0 parse the same text silently. */
void config_warnings(int on);

/* Defaults as picotron behaves when its files lack a key (docs/config.md). */
void config_defaults(Config *cfg);

/* Parse JSON text (path is only for messages). Unknown keys warn on stderr; nulls are accepted
 * where picotron writes them. Resolves the model preset, applies explicit model keys, then
 * validates everything (config_validate). */
int config_parse(Config *cfg, const char *json_text, const char *path, Error *err);

/* Read FILE ("-" = stdin) and config_parse it; logging.run_dir defaults to FILE's directory. */
int config_load(Config *cfg, const char *path, Error *err);

/* The two halves of config_load, for ranks that receive the text from rank 0: read the whole
 * file or stdin (*text malloc'ed), and parse text read from path. */
int config_read_text(const char *path, char **text, Error *err);
int config_load_text(Config *cfg, const char *text, const char *path, Error *err);

/* Apply one "key.path=value" override (value parsed as JSON, else as a string), as
 * `--set` does; call config_validate afterwards. */
int config_set(Config *cfg, const char *assignment, Error *err);

/* Check every value and the mesh; error names the key: "training.seq_length: must be > 0, got -3". */
int config_validate(const Config *cfg, Error *err);

/* The part of config_validate that checks the model against the mesh (heads and kv-heads and
 * MLP width % tp, layers ≥ pp, seq_length % 2·cp): the only place these rules live. */
int config_check_mesh(const Config *cfg, Error *err);

/* Serialise the full, resolved configuration (all keys) as JSON text; caller frees. */
char *config_to_json(const Config *cfg);

/* One key ("training.seq_length") as config_to_json writes it, a new jansson reference; NULL
 * for a key the schema does not have. */
struct json_t *config_key_value(const Config *cfg, const char *key);

/* Ranks of the run: dp × pp × cp × tp. */
int config_world_size(const Config *cfg);

/* Global batch in samples: mbs × grad_acc × dp. */
int64_t config_global_batch(const Config *cfg);

#endif
