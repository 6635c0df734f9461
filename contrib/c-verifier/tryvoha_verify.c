/*
 * tryvoha_verify: check signed tryvoha events the way a siren controller must, with libsodium.
 *
 * The hub signs every event once over a fixed byte layout (docs/signatures.md) and sends those
 * bytes beside the event, base64, in a "sig" object. A device needs no JSON parser: it takes
 * sig.key_id, sig.signed and sig.signature, verifies the signature over the signed bytes with
 * crypto_sign_verify_detached, and then reads every field from the *verified* bytes. Nothing
 * outside the signed bytes is trusted.
 *
 * usage: tryvoha_verify [-t now_ms] [-l last_seen_log_id] KEYS_FILE < messages
 *
 * KEYS_FILE (`tryvoha keys export --format text`):
 *     hub <hub id>
 *     key <key id hex> <public key base64> <valid_until ms, or - while active>
 * Each input line is one message: an event JSON with its "sig" object (an MQTT payload, a
 * WebSocket message), or a whole SSE capture, of which only the "alert" events are checked.
 * Output, one line per message:
 *     OK log=<id> alert=<id> kind=<k> region=<id> threat=<t> status=<s> details=<d> ...
 *        (layout 2, e.g. a retraction, adds: proposal=<id or 0> reason=<bytes> correction=<bytes>)
 *     REJECT <reason> [log=<id>]
 * Exit status: 0 when every message was accepted, 1 when one was refused, 2 on a usage error.
 *
 * Refused: unknown key, bad signature (altered, forged, wrong key), wrong hub, recorded after the
 * key was retired, expired, replayed (seen, or at or below last_seen) and reordered (unseen but
 * older than one already accepted), malformed.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEYS 16
#define MAX_LINE (64 * 1024)
#define MAX_SIGNED (16 * 1024)
#define HEADER_SIZE 49    /* layout 1 */
#define HEADER_SIZE_V2 65 /* layout 2: proposal_id and deadline before the flags */
#define FIELD_COUNT 8 /* hub kind region threat status details originator source [notes] */
#define WINDOW 64     /* ids below the highest accepted one whose arrival is remembered */

/* Flags: bit 0 notes; layout 2 only: 1 reason, 2 correction, 3 proposed_by, 4 proposal_id,
 * 5 deadline (a layout-2 event has at least one of bits 1-5; a header value needs its flag). */
#define F_NOTES 0x01u
#define F_REASON 0x02u
#define F_CORRECTION 0x04u
#define F_PROPOSED_BY 0x08u
#define F_PROPOSAL 0x10u
#define F_DEADLINE 0x20u

static const unsigned char MAGIC[8] = {'T', 'R', 'Y', 'V', 'E', 'V', 'T', '1'};
static const unsigned char MAGIC_V2[8] = {'T', 'R', 'Y', 'V', 'E', 'V', 'T', '2'};

struct key {
    char id[17];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    int64_t valid_until; /* ms; -1 while active */
};

struct text {
    const unsigned char *p;
    size_t n;
};

struct event {
    int layout;
    uint64_t log_id, alert_id, proposal_id;
    int64_t occurred_at, recorded_at, expires_at, deadline;
    unsigned flags;
    struct text hub, kind, region, threat, status, details, originator, source, notes;
    struct text reason, correction, proposed_by; /* layout 2, each when its flag is set */
};

static struct key keys[MAX_KEYS];
static int key_count;
static char hub[65];

/* Replay state: the highest accepted log id and a bitmap of the WINDOW ids below it. */
static uint64_t highest, floor_id;
static uint64_t seen_bits;

static uint64_t be64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static int hex_key_id(const unsigned char *pk, char out[17]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2hex(out, 17, digest, 8);
    return 0;
}

static int load_keys(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tryvoha_verify: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char id[64], b64[128], until[32];
        if (sscanf(line, "hub %64s", hub) == 1) continue;
        if (sscanf(line, "key %63s %127s %31s", id, b64, until) != 3) continue;
        if (key_count == MAX_KEYS) break;
        struct key *k = &keys[key_count];
        size_t len = 0;
        if (sodium_base642bin(k->pk, sizeof k->pk, b64, strlen(b64), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len != crypto_sign_PUBLICKEYBYTES) {
            fprintf(stderr, "tryvoha_verify: key %s: not a base64 Ed25519 public key\n", id);
            fclose(f);
            return -1;
        }
        hex_key_id(k->pk, k->id);
        if (strcmp(k->id, id) != 0) {
            fprintf(stderr, "tryvoha_verify: key %s does not match its public key\n", id);
            fclose(f);
            return -1;
        }
        k->valid_until = strcmp(until, "-") == 0 ? -1 : strtoll(until, NULL, 10);
        key_count++;
    }
    fclose(f);
    if (!hub[0] || !key_count) {
        fprintf(stderr, "tryvoha_verify: %s names no hub or no key\n", path);
        return -1;
    }
    return 0;
}

/* The string value of "name":"…" after `from`; base64 and hex never contain quotes. */
static int json_string(const char *from, const char *name, const char **value, size_t *len) {
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
    const char *start = strstr(from, pattern);
    if (!start) return -1;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (!end) return -1;
    *value = start;
    *len = (size_t)(end - start);
    return 0;
}

static int take_text(const unsigned char *data, size_t size, size_t *pos, struct text *out) {
    if (*pos + 2 > size) return -1;
    size_t n = ((size_t)data[*pos] << 8) | data[*pos + 1];
    *pos += 2;
    if (*pos + n > size) return -1;
    out->p = data + *pos;
    out->n = n;
    *pos += n;
    return 0;
}

static int parse_event(const unsigned char *data, size_t size, struct event *e) {
    memset(e, 0, sizeof *e);
    size_t pos;
    if (size >= HEADER_SIZE && memcmp(data, MAGIC, sizeof MAGIC) == 0) {
        e->layout = 1;
        e->flags = data[48];
        if (e->flags & ~F_NOTES) return -1;
        pos = HEADER_SIZE;
    } else if (size >= HEADER_SIZE_V2 && memcmp(data, MAGIC_V2, sizeof MAGIC_V2) == 0) {
        e->layout = 2;
        e->proposal_id = be64(data + 48);
        e->deadline = (int64_t)be64(data + 56);
        e->flags = data[64];
        if (e->flags & ~0x3Fu || !(e->flags & 0x3Eu)) return -1;
        if (e->proposal_id && !(e->flags & F_PROPOSAL)) return -1;
        if (e->deadline && !(e->flags & F_DEADLINE)) return -1;
        pos = HEADER_SIZE_V2;
    } else {
        return -1;
    }
    e->log_id = be64(data + 8);
    e->alert_id = be64(data + 16);
    e->occurred_at = (int64_t)be64(data + 24);
    e->recorded_at = (int64_t)be64(data + 32);
    e->expires_at = (int64_t)be64(data + 40);
    struct text *fields[] = {&e->hub,     &e->kind,    &e->region,     &e->threat,
                             &e->status,  &e->details, &e->originator, &e->source};
    for (int i = 0; i < FIELD_COUNT; i++)
        if (take_text(data, size, &pos, fields[i]) != 0) return -1;
    struct {
        unsigned flag;
        struct text *out;
    } optional[] = {{F_NOTES, &e->notes},
                    {F_REASON, &e->reason},
                    {F_CORRECTION, &e->correction},
                    {F_PROPOSED_BY, &e->proposed_by}};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
        if ((e->flags & optional[i].flag) && take_text(data, size, &pos, optional[i].out) != 0)
            return -1;
    return pos == size ? 0 : -1;
}

static int text_is(const struct text *t, const char *s) {
    return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

static const char *check_order(uint64_t log_id) {
    if (log_id > highest) return NULL;
    if (log_id <= floor_id || log_id + WINDOW <= highest) return "replayed";
    if (log_id == highest || (seen_bits >> (highest - log_id - 1)) & 1u) return "replayed";
    return "reordered";
}

static void accept_id(uint64_t log_id) {
    if (log_id > highest) {
        uint64_t shift = log_id - highest;
        seen_bits = shift >= 64 ? 0 : (seen_bits << shift);
        if (highest && shift <= 64) seen_bits |= (uint64_t)1 << (shift - 1);
        highest = log_id;
    } else {
        seen_bits |= (uint64_t)1 << (highest - log_id - 1);
    }
}

/* 0 when accepted; prints the verdict line either way. */
static int verify_line(const char *line, int64_t now_ms) {
    const char *sig = strstr(line, "\"sig\":{");
    if (!sig) {
        puts("REJECT unsigned");
        return 1;
    }
    const char *id, *signed_b64, *sig_b64;
    size_t id_len, signed_len, sig_len;
    if (json_string(sig, "key_id", &id, &id_len) || json_string(sig, "signed", &signed_b64, &signed_len) ||
        json_string(sig, "signature", &sig_b64, &sig_len)) {
        puts("REJECT malformed");
        return 1;
    }
    static unsigned char signed_bytes[MAX_SIGNED];
    unsigned char signature[crypto_sign_BYTES];
    size_t n = 0, m = 0;
    if (sodium_base642bin(signed_bytes, sizeof signed_bytes, signed_b64, signed_len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sodium_base642bin(signature, sizeof signature, sig_b64, sig_len, NULL, &m, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        m != crypto_sign_BYTES) {
        puts("REJECT malformed");
        return 1;
    }
    const struct key *key = NULL;
    for (int i = 0; i < key_count; i++)
        if (strlen(keys[i].id) == id_len && memcmp(keys[i].id, id, id_len) == 0) key = &keys[i];
    if (!key) {
        puts("REJECT unknown_key");
        return 1;
    }
    if (crypto_sign_verify_detached(signature, signed_bytes, n, key->pk) != 0) {
        puts("REJECT bad_signature");
        return 1;
    }
    /* From here on every byte is the hub's. */
    struct event e;
    if (parse_event(signed_bytes, n, &e) != 0) {
        puts("REJECT malformed");
        return 1;
    }
    if (!text_is(&e.hub, hub)) {
        printf("REJECT wrong_hub log=%" PRIu64 "\n", e.log_id);
        return 1;
    }
    if (key->valid_until >= 0 && e.recorded_at > key->valid_until) {
        printf("REJECT key_retired log=%" PRIu64 "\n", e.log_id);
        return 1;
    }
    if (now_ms > e.expires_at) {
        printf("REJECT expired log=%" PRIu64 "\n", e.log_id);
        return 1;
    }
    const char *order = check_order(e.log_id);
    if (order) {
        printf("REJECT %s log=%" PRIu64 "\n", order, e.log_id);
        return 1;
    }
    accept_id(e.log_id);
    printf("OK log=%" PRIu64 " alert=%" PRIu64 " kind=%.*s region=%.*s threat=%.*s status=%.*s "
           "details=%.*s recorded=%" PRId64 " expires=%" PRId64 " notes=%zu",
           e.log_id, e.alert_id, (int)e.kind.n, e.kind.p, (int)e.region.n, e.region.p,
           (int)e.threat.n, e.threat.p, (int)e.status.n, e.status.p, (int)e.details.n,
           e.details.p, e.recorded_at, e.expires_at, e.notes.n);
    if (e.layout == 2)
        printf(" proposal=%" PRIu64 " reason=%zu correction=%zu", e.proposal_id, e.reason.n,
               e.correction.n);
    putchar('\n');
    return 0;
}

int main(int argc, char **argv) {
    int64_t now_ms = -1;
    int arg = 1;
    while (arg + 1 < argc && argv[arg][0] == '-') {
        if (strcmp(argv[arg], "-t") == 0) {
            now_ms = strtoll(argv[arg + 1], NULL, 10);
        } else if (strcmp(argv[arg], "-l") == 0) {
            highest = floor_id = strtoull(argv[arg + 1], NULL, 10);
        } else {
            break;
        }
        arg += 2;
    }
    if (arg + 1 != argc) {
        fprintf(stderr, "usage: %s [-t now_ms] [-l last_seen_log_id] KEYS_FILE < messages\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0 || load_keys(argv[arg]) != 0) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0); /* one verdict per line, as messages arrive */
    if (now_ms < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    static char line[MAX_LINE];
    char sse_event[32] = "";
    int refused = 0;
    while (fgets(line, sizeof line, stdin)) {
        const char *message = line;
        if (strncmp(line, "event: ", 7) == 0) { /* an SSE capture: only "alert" events count */
            snprintf(sse_event, sizeof sse_event, "%.*s", (int)strcspn(line + 7, "\r\n"), line + 7);
            continue;
        }
        if (line[0] == '\n' || line[0] == '\r') sse_event[0] = '\0';
        if (strncmp(line, "data: ", 6) == 0) {
            if (sse_event[0] && strcmp(sse_event, "alert") != 0) continue; /* snapshot, dropped */
            message = line + 6;
        } else if (line[0] != '{') {
            continue; /* SSE framing: id:, retry:, comments, blank lines */
        }
        refused |= verify_line(message, now_ms);
    }
    return refused ? 1 : 0;
}
