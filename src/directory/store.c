/*
 * store.c - the directory's record sets on SQLite.
 *
 * One table, one row per key (the SHA3-256 digest of its fingerprint):
 *
 *   sets(fp BLOB PRIMARY KEY, ts, expires, json, txt)
 *
 * json and txt are the two carriers of the newest set accepted for the key,
 * re-encoded by us from the verified record (so what we serve is exactly
 * what we checked, and any client can verify it again). When that set
 * expires its carriers are dropped but fp and ts stay, as a tombstone: a
 * replay of an older set is refused even after the newer one expired
 * (DESIGN.md §2.2, no rollback). A tombstone is forgotten once every set
 * older than it must have expired too (ts + PL_RECORD_TTL_MAX).
 *
 * Durability: WAL with synchronous=FULL, one transaction per put, so a put
 * that returned survives a crash of the process or the machine. The schema
 * is versioned with PRAGMA user_version and marked with application_id.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "directory/directory.h"
#include "util/util.h"

#define APPLICATION_ID 0x706c6472 /* "pldr" */

struct pl_dir_store {
    sqlite3 *db;
    uint64_t generation; /* __atomic: bumped by every change */
    pthread_mutex_t lock;
    sqlite3_stmt *select_held; /* ts, json of fp */
    sqlite3_stmt *upsert;
    sqlite3_stmt *get_json;
    sqlite3_stmt *get_txt;
    sqlite3_stmt *count;
};

static const char schema[] = "CREATE TABLE sets ("
                             " fp BLOB PRIMARY KEY NOT NULL,"
                             " ts INTEGER NOT NULL,"
                             " expires INTEGER NOT NULL,"
                             " json TEXT,"
                             " txt BLOB"
                             ") WITHOUT ROWID;"
                             "CREATE INDEX sets_expires ON sets(expires);";

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* One integer from a one-row query, or -1. */
static int64_t query_int(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *s;
    int64_t v = -1;
    *rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (*rc != SQLITE_OK)
        return -1;
    *rc = sqlite3_step(s);
    if (*rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        *rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return v;
}

static int open_fail(pl_dir_store *st, int err, const char *reason, const char **why)
{
    if (why)
        *why = reason;
    pl_dir_store_close(st);
    return err;
}

/* Create the schema in an empty database, or check an existing one. */
static int setup_schema(sqlite3 *db, const char **why)
{
    int rc;
    int64_t version = query_int(db, "PRAGMA user_version", &rc);
    if (rc == SQLITE_NOTADB) {
        *why = "the file is not an SQLite database";
        return PL_ERR_PARSE;
    }
    if (rc != SQLITE_OK) {
        *why = "cannot read the database";
        return PL_ERR_IO;
    }
    if (version == 0) {
        if (query_int(db, "SELECT count(*) FROM sqlite_master", &rc) != 0) {
            *why = rc == SQLITE_OK ? "the database holds other tables: not a peerlink directory"
                                   : "cannot read the database";
            return rc == SQLITE_OK ? PL_ERR_PARSE : PL_ERR_IO;
        }
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK || exec(db, schema) != SQLITE_OK ||
            exec(db, "PRAGMA application_id = 1886151794") != SQLITE_OK ||
            exec(db, "PRAGMA user_version = 1") != SQLITE_OK || exec(db, "COMMIT") != SQLITE_OK) {
            exec(db, "ROLLBACK");
            *why = "cannot create the tables";
            return PL_ERR_IO;
        }
        return PL_OK;
    }
    if (query_int(db, "PRAGMA application_id", &rc) != APPLICATION_ID) {
        *why = "the database belongs to another application: not a peerlink directory";
        return PL_ERR_PARSE;
    }
    if (version != PL_DIR_SCHEMA_VERSION) {
        *why = "the database was written by a newer peerlink (schema version)";
        return PL_ERR_VERSION;
    }
    return PL_OK;
}

int pl_dir_store_open(pl_dir_store **out, const char *path, const char **why)
{
    const char *dummy;
    pl_dir_store *st;
    int rc;
    if (!why)
        why = &dummy;
    if (!out || !path) {
        *why = "no database path";
        return PL_ERR_INVAL;
    }
    *out = NULL;
    st = calloc(1, sizeof *st);
    if (!st) {
        *why = "out of memory";
        return PL_ERR_NOMEM;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        *why = "cannot create a mutex";
        return PL_ERR_INTERNAL;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        return open_fail(st, PL_ERR_IO, "cannot open or create the database file", why);
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 0);
    rc = setup_schema(st->db, why);
    if (rc != PL_OK)
        return open_fail(st, rc, *why, why);
    /* WAL: readers do not block the writer; FULL: the WAL is synced at
     * every commit, so an acknowledged announce survives a power cut. */
    if (exec(st->db, "PRAGMA journal_mode = WAL") != SQLITE_OK ||
        exec(st->db, "PRAGMA synchronous = FULL") != SQLITE_OK)
        return open_fail(st, PL_ERR_IO, "cannot switch the database to WAL mode", why);
    if (sqlite3_prepare_v2(st->db, "SELECT ts, json, expires FROM sets WHERE fp = ?1", -1,
                           &st->select_held, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO sets (fp, ts, expires, json, txt)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st->upsert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "SELECT json, expires FROM sets"
                           " WHERE fp = ?1 AND json IS NOT NULL AND expires > ?2",
                           -1, &st->get_json, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "SELECT txt, expires FROM sets"
                           " WHERE fp = ?1 AND txt IS NOT NULL AND expires > ?2",
                           -1, &st->get_txt, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "SELECT count(*) FROM sets WHERE json IS NOT NULL AND expires > ?1", -1,
                           &st->count, NULL) != SQLITE_OK)
        return open_fail(st, PL_ERR_PARSE, "the database does not have the expected tables", why);
    *out = st;
    return PL_OK;
}

void pl_dir_store_close(pl_dir_store *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->select_held);
    sqlite3_finalize(st->upsert);
    sqlite3_finalize(st->get_json);
    sqlite3_finalize(st->get_txt);
    sqlite3_finalize(st->count);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Compare the new set with the one held (row of select_held). */
static int check_rollback(sqlite3_stmt *s, uint64_t ts, const char *json, size_t len, uint64_t now,
                          enum pl_dir_put_outcome *outcome, const char **why)
{
    uint64_t held_ts = (uint64_t)sqlite3_column_int64(s, 0);
    const unsigned char *held = sqlite3_column_text(s, 1);
    size_t held_len = (size_t)sqlite3_column_bytes(s, 1);
    uint64_t held_expires = (uint64_t)sqlite3_column_int64(s, 2);
    int current = held != NULL && held_expires > now;
    if (ts < held_ts) {
        *why = current ? "the directory holds a newer record set for this key (rollback refused)"
                       : "the directory has seen a newer record set for this key (it has "
                         "expired, but an older one may not replace it)";
        return PL_ERR_EXIST;
    }
    if (ts == held_ts) {
        if (current && held_len == len && memcmp(held, json, len) == 0) {
            *outcome = PL_DIR_UNCHANGED;
            return PL_OK;
        }
        *why = "the directory holds a different record set with the same timestamp: sign a "
               "new one";
        return PL_ERR_EXIST;
    }
    *outcome = current ? PL_DIR_REPLACED : PL_DIR_CREATED;
    return PL_OK;
}

static int store_locked(pl_dir_store *st, const uint8_t *digest, const pl_record *rs,
                        const char *json, size_t jlen, const uint8_t *txt, size_t tlen,
                        uint64_t now, enum pl_dir_put_outcome *outcome, const char **why)
{
    int rc = PL_OK, step;
    if (exec(st->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        *why = "the database is not writable";
        return PL_ERR_IO;
    }
    *outcome = PL_DIR_CREATED;
    sqlite3_bind_blob(st->select_held, 1, digest, PL_FP_DIGEST_LEN, SQLITE_STATIC);
    step = sqlite3_step(st->select_held);
    if (step == SQLITE_ROW)
        rc = check_rollback(st->select_held, rs->timestamp, json, jlen, now, outcome, why);
    else if (step != SQLITE_DONE) {
        *why = "cannot read the database";
        rc = PL_ERR_IO;
    }
    sqlite3_reset(st->select_held);
    sqlite3_clear_bindings(st->select_held);
    if (rc == PL_OK && *outcome != PL_DIR_UNCHANGED) {
        sqlite3_bind_blob(st->upsert, 1, digest, PL_FP_DIGEST_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st->upsert, 2, (sqlite3_int64)rs->timestamp);
        sqlite3_bind_int64(st->upsert, 3, (sqlite3_int64)(rs->timestamp + rs->ttl));
        sqlite3_bind_text(st->upsert, 4, json, (int)jlen, SQLITE_STATIC);
        sqlite3_bind_blob(st->upsert, 5, txt, (int)tlen, SQLITE_STATIC);
        if (sqlite3_step(st->upsert) != SQLITE_DONE) {
            *why = "cannot write to the database";
            rc = PL_ERR_IO;
        }
        sqlite3_reset(st->upsert);
        sqlite3_clear_bindings(st->upsert);
    }
    if (rc == PL_OK && exec(st->db, "COMMIT") != SQLITE_OK) {
        *why = "cannot commit to the database";
        rc = PL_ERR_IO;
    }
    if (rc != PL_OK)
        exec(st->db, "ROLLBACK");
    else if (*outcome != PL_DIR_UNCHANGED)
        __atomic_add_fetch(&st->generation, 1, __ATOMIC_RELEASE);
    return rc;
}

int pl_dir_store_put(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], const char *json,
                     size_t len, uint64_t now, uint32_t skew, enum pl_dir_put_outcome *outcome,
                     const char **why)
{
    static const char *const verdicts[] = {
        [-PL_ERR_AUTH] = "the signature does not verify, or the record set is not by the key "
                         "this URL names",
        [-PL_ERR_FUTURE] = "the record set is dated too far in the future (check the clock)",
        [-PL_ERR_EXPIRED] = "the record set has expired (timestamp + ttl is past)",
        [-PL_ERR_INVAL] = "the record set has an invalid field",
    };
    const char *dummy;
    enum pl_dir_put_outcome o;
    pl_fingerprint fp;
    pl_record *rs;
    char *enc;
    uint8_t *txt;
    int rc, jlen, tlen;

    if (!why)
        why = &dummy;
    if (!outcome)
        outcome = &o;
    if (!st || !digest || (!json && len)) {
        *why = "bad arguments";
        return PL_ERR_INVAL;
    }
    if (len > PL_RECORD_JSON_MAX) {
        *why = "the record set is larger than 24576 bytes";
        return PL_ERR_TOOBIG;
    }
    rs = malloc(sizeof *rs);
    enc = malloc(PL_RECORD_JSON_MAX + 1);
    txt = malloc(PL_RECORD_TXT_MAX);
    if (!rs || !enc || !txt) {
        *why = "out of memory";
        rc = PL_ERR_NOMEM;
        goto out;
    }
    rc = pl_record_from_json(rs, json ? json : "", len, why);
    if (rc != PL_OK)
        goto out;
    memset(&fp, 0, sizeof fp);
    memcpy(fp.digest, digest, PL_FP_DIGEST_LEN);
    rc = pl_record_verify(rs, &fp, now, skew);
    if (rc != PL_OK) {
        *why =
            (rc == PL_ERR_AUTH || rc == PL_ERR_FUTURE || rc == PL_ERR_EXPIRED || rc == PL_ERR_INVAL)
                ? verdicts[-rc]
                : "the record set does not verify";
        goto out;
    }
    jlen = pl_record_to_json(rs, enc, PL_RECORD_JSON_MAX + 1);
    tlen = pl_record_to_txt(rs, txt, PL_RECORD_TXT_MAX);
    if (jlen < 0 || tlen < 0) {
        *why = "cannot re-encode the record set";
        rc = PL_ERR_INTERNAL;
        goto out;
    }
    pthread_mutex_lock(&st->lock);
    rc = store_locked(st, digest, rs, enc, (size_t)jlen, txt, (size_t)tlen, now, outcome, why);
    pthread_mutex_unlock(&st->lock);
out:
    free(rs);
    free(enc);
    free(txt);
    return rc;
}

static int get_column(pl_dir_store *st, sqlite3_stmt *s, const uint8_t *digest, uint64_t now,
                      uint8_t *out, size_t cap, int nul, uint64_t *expires)
{
    int rc, step;
    if (!st || !digest || !out)
        return PL_ERR_INVAL;
    pthread_mutex_lock(&st->lock);
    sqlite3_bind_blob(s, 1, digest, PL_FP_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        if (n + (nul ? 1 : 0) > cap) {
            rc = PL_ERR_BUFSIZE;
        } else {
            if (n)
                memcpy(out, p, n);
            if (nul)
                out[n] = 0;
            if (expires)
                *expires = (uint64_t)sqlite3_column_int64(s, 1);
            rc = (int)n;
        }
    } else {
        rc = step == SQLITE_DONE ? PL_ERR_NOTFOUND : PL_ERR_IO;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int pl_dir_store_get_json(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], uint64_t now,
                          char *out, size_t cap, uint64_t *expires)
{
    return get_column(st, st ? st->get_json : NULL, digest, now, (uint8_t *)out, cap, 1, expires);
}

int pl_dir_store_get_txt(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], uint64_t now,
                         uint8_t *out, size_t cap, uint64_t *expires)
{
    return get_column(st, st ? st->get_txt : NULL, digest, now, out, cap, 0, expires);
}

int pl_dir_store_sweep(pl_dir_store *st, uint64_t now)
{
    sqlite3_stmt *drop = NULL, *forget = NULL;
    int rc = PL_ERR_IO;
    if (!st)
        return PL_ERR_INVAL;
    pthread_mutex_lock(&st->lock);
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE sets SET json = NULL, txt = NULL"
                           " WHERE json IS NOT NULL AND expires <= ?1",
                           -1, &drop, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "DELETE FROM sets WHERE json IS NULL AND ts + ?2 <= ?1", -1,
                           &forget, NULL) != SQLITE_OK)
        goto out;
    if (exec(st->db, "BEGIN IMMEDIATE") != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(drop, 1, (sqlite3_int64)now);
    sqlite3_bind_int64(forget, 1, (sqlite3_int64)now);
    sqlite3_bind_int64(forget, 2, PL_RECORD_TTL_MAX);
    if (sqlite3_step(drop) == SQLITE_DONE) {
        int n = sqlite3_changes(st->db);
        if (sqlite3_step(forget) == SQLITE_DONE && exec(st->db, "COMMIT") == SQLITE_OK)
            rc = n;
        if (rc > 0 || (rc == 0 && sqlite3_changes(st->db) > 0))
            __atomic_add_fetch(&st->generation, 1, __ATOMIC_RELEASE);
    }
    if (rc < 0)
        exec(st->db, "ROLLBACK");
out:
    sqlite3_finalize(drop);
    sqlite3_finalize(forget);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int pl_dir_store_count(pl_dir_store *st, uint64_t now)
{
    int rc;
    if (!st)
        return PL_ERR_INVAL;
    pthread_mutex_lock(&st->lock);
    sqlite3_bind_int64(st->count, 1, (sqlite3_int64)now);
    rc =
        sqlite3_step(st->count) == SQLITE_ROW ? (int)sqlite3_column_int64(st->count, 0) : PL_ERR_IO;
    sqlite3_reset(st->count);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

uint64_t pl_dir_store_generation(const pl_dir_store *st)
{
    return st ? __atomic_load_n(&st->generation, __ATOMIC_ACQUIRE) : 0;
}
