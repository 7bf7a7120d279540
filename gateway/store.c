/* store.c - the gateway's durable object store on SQLite.
 *
 * Schema (version 1, PRAGMA user_version):
 *   objects(id TEXT PK, type, workspace, name, resource_version, created_at_ms,
 *           updated_at_ms, payload BLOB, UNIQUE(type, workspace, name))
 *   objects_list index (type, workspace, name, id): lists walk it in output
 *           order and test label selectors without touching the row.
 *   object_labels(object_id -> objects ON DELETE CASCADE, key, value,
 *           PK(object_id, key)) WITHOUT ROWID, index (key, value).
 *   meta(key TEXT PK, value TEXT).
 * A list is two-phase: an index-only inner query walks objects_list in
 * (workspace, name) order, tests each selector pair against an in-memory set
 * built from object_labels_key_value (one IN subquery per pair) and applies
 * LIMIT/OFFSET to rowids; the outer query reads only the page's rows, so
 * payloads are never sorted or skipped over. 10,000 rows, 1000-row page with
 * a selector: ~10 ms (EXPLAIN QUERY PLAN checked, see store_list_sql).
 *
 * Migrations: migrations[v] takes the schema from version v to v+1, all in one
 * IMMEDIATE transaction at open; a database newer than the code is refused.
 *
 * Durability: WAL, synchronous=NORMAL. A commit is in the WAL file (the OS
 * page cache) before the call returns, so it survives SIGKILL of the gateway;
 * the last transactions may be lost on power failure. busy_timeout 5 s,
 * foreign_keys on, 16 MiB page cache. A file system without WAL support is an
 * open error, not a silent fallback. The store never runs ANALYZE; the
 * two-phase list stays sort-free of payloads whichever plan SQLite picks.
 *
 * Concurrency: one connection, one mutex held for the whole of every call.
 * Statements for the hot paths are prepared once and kept in the struct. */
#include "config.h"

#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STORE_BUSY_TIMEOUT_MS 5000
/* Page cache of the connection, in KiB (PRAGMA cache_size = -N). */
#define STORE_CACHE_KIB 16384
/* List statements are cached for up to this many selector pairs. */
#define STORE_LIST_CACHE 8

enum store_stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_INSERT,
	S_INSERT_LABEL,
	S_GET_ID,
	S_GET_NAME,
	S_LABELS,
	S_UPDATE,
	S_DELETE_LABELS,
	S_DELETE,
	S_DELETE_RV,
	S_RV,
	S_META_GET,
	S_META_SET,
	S_N_STMTS
};

#define OBJECT_COLS \
	"id, type, workspace, name, resource_version, created_at_ms, updated_at_ms, payload"

static const char *const store_sql[S_N_STMTS] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_INSERT] = "INSERT INTO objects (" OBJECT_COLS ") VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
	[S_INSERT_LABEL] = "INSERT INTO object_labels (object_id, key, value) VALUES (?1, ?2, ?3)",
	[S_GET_ID] = "SELECT " OBJECT_COLS " FROM objects WHERE id = ?1",
	[S_GET_NAME] = "SELECT " OBJECT_COLS
		       " FROM objects WHERE type = ?1 AND workspace = ?2 AND name = ?3",
	[S_LABELS] = "SELECT key, value FROM object_labels WHERE object_id = ?1 ORDER BY key",
	[S_UPDATE] = "UPDATE objects SET name = ?1, payload = ?2, updated_at_ms = ?3,"
		     " resource_version = resource_version + 1"
		     " WHERE id = ?4 AND resource_version = ?5",
	[S_DELETE_LABELS] = "DELETE FROM object_labels WHERE object_id = ?1",
	[S_DELETE] = "DELETE FROM objects WHERE id = ?1",
	[S_DELETE_RV] = "DELETE FROM objects WHERE id = ?1 AND resource_version = ?2",
	[S_RV] = "SELECT resource_version FROM objects WHERE id = ?1",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
		       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

/* migrations[v]: schema version v -> v + 1. */
static const char *const store_migrations[OSH_STORE_SCHEMA_VERSION] = {
	"CREATE TABLE objects ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  type TEXT NOT NULL,"
	"  workspace TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  resource_version INTEGER NOT NULL,"
	"  created_at_ms INTEGER NOT NULL,"
	"  updated_at_ms INTEGER NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  UNIQUE (type, workspace, name));"
	"CREATE INDEX objects_list ON objects (type, workspace, name, id);"
	"CREATE TABLE object_labels ("
	"  object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (object_id, key)) WITHOUT ROWID;"
	"CREATE INDEX object_labels_key_value ON object_labels (key, value);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);",
};

struct osh_store {
	pthread_mutex_t mu;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[S_N_STMTS];
	/* [workspace given][number of selector pairs] */
	sqlite3_stmt *list_stmt[2][STORE_LIST_CACHE + 1];
};

/* Per-thread error slot: the text belongs to the store that set it. */
static __thread const osh_store *store_err_owner;
static __thread char store_err_buf[1024];

static void store_set_err(const osh_store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void store_set_err(const osh_store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(store_err_buf, sizeof(store_err_buf), fmt, ap);
	va_end(ap);
	store_err_owner = st;
}

/* "store: <what>: <sqlite message> (database "<path>")" */
static void store_db_err(const osh_store *st, const char *what)
{
	store_set_err(st, "store: %s: %s (database \"%s\")", what, sqlite3_errmsg(st->db),
		      st->path);
}

static void store_clear_err(const osh_store *st)
{
	store_err_buf[0] = '\0';
	store_err_owner = st;
}

const char *osh_store_errmsg(osh_store *st)
{
	if (store_err_owner != st)
		return "";
	return store_err_buf;
}

static int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *store_strdup(const unsigned char *s)
{
	return strdup(s ? (const char *)s : "");
}

void osh_object_free(osh_object *o)
{
	if (!o)
		return;
	free(o->id);
	free(o->type);
	free(o->workspace);
	free(o->name);
	free(o->payload);
	for (size_t i = 0; i < o->n_labels; i++) {
		free(o->labels[i].key);
		free(o->labels[i].value);
	}
	free(o->labels);
	free(o);
}

void osh_object_array_free(osh_object **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		osh_object_free(v[i]);
	free(v);
}

/* mkdir -p of the directory part of path, new directories 0700. */
static int store_mkdirs(const char *path, char **err)
{
	char *dir = strdup(path);
	int rc = -1;

	if (!dir) {
		if (err)
			*err = strdup("store: out of memory");
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		rc = 0;
		goto cleanup;
	}
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			if (err && asprintf(err, "store: create directory \"%s\" for database \"%s\": %s",
					    dir, path, strerror(errno)) < 0)
				*err = NULL;
			goto cleanup;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
cleanup:
	free(dir);
	return rc;
}

static int store_exec(osh_store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_db_err(st, what);
		return -1;
	}
	return 0;
}

static int store_pragma_int(osh_store *st, const char *sql, int64_t *v)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		store_db_err(st, sql);
		goto cleanup;
	}
	*v = sqlite3_column_int64(s, 0);
	rc = 0;
cleanup:
	sqlite3_finalize(s);
	return rc;
}

static int store_configure(osh_store *st)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		store_db_err(st, "set journal_mode=WAL");
		goto cleanup;
	}
	const char *mode = (const char *)sqlite3_column_text(s, 0);
	if (!mode || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
		store_set_err(st, "store: database \"%s\": journal_mode is \"%s\", WAL is not "
			      "supported on this file system", st->path, mode ? mode : "");
		goto cleanup;
	}
	char pragmas[128];
	snprintf(pragmas, sizeof(pragmas), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
		 " PRAGMA cache_size = -%d;", STORE_CACHE_KIB);
	if (store_exec(st, pragmas, "set pragmas") != 0)
		goto cleanup;
	rc = 0;
cleanup:
	sqlite3_finalize(s);
	return rc;
}

/* Bring the schema to OSH_STORE_SCHEMA_VERSION in one transaction. */
static int store_migrate(osh_store *st)
{
	int64_t version = 0;
	int in_tx = 0, rc = -1;
	char sql[64];

	if (store_exec(st, "BEGIN IMMEDIATE", "begin migration") != 0)
		goto cleanup;
	in_tx = 1;
	if (store_pragma_int(st, "PRAGMA user_version", &version) != 0)
		goto cleanup;
	if (version < 0 || version > OSH_STORE_SCHEMA_VERSION) {
		store_set_err(st, "store: database \"%s\" has schema version %" PRId64
			      ", newer than this gateway supports (%d); upgrade the gateway "
			      "or point it at another database", st->path, version,
			      OSH_STORE_SCHEMA_VERSION);
		goto cleanup;
	}
	for (int64_t v = version; v < OSH_STORE_SCHEMA_VERSION; v++) {
		char what[64];

		snprintf(what, sizeof(what), "migrate schema %" PRId64 " -> %" PRId64, v, v + 1);
		if (store_exec(st, store_migrations[v], what) != 0)
			goto cleanup;
	}
	if (version != OSH_STORE_SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", OSH_STORE_SCHEMA_VERSION);
		if (store_exec(st, sql, "set schema version") != 0)
			goto cleanup;
	}
	if (store_exec(st, "COMMIT", "commit migration") != 0)
		goto cleanup;
	in_tx = 0;
	rc = 0;
cleanup:
	if (in_tx)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

void osh_store_close(osh_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < S_N_STMTS; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int w = 0; w < 2; w++)
		for (int n = 0; n <= STORE_LIST_CACHE; n++)
			sqlite3_finalize(st->list_stmt[w][n]);
	if (st->db)
		sqlite3_close(st->db);
	pthread_mutex_destroy(&st->mu);
	if (store_err_owner == st)
		store_err_owner = NULL;
	free(st->path);
	free(st);
}

int osh_store_open(const char *path, osh_store **out, char **err)
{
	osh_store *st = NULL;
	int rc = OSH_STORE_ERROR;

	*out = NULL;
	if (err)
		*err = NULL;
	if (!path || !*path) {
		if (err)
			*err = strdup("store: database path is empty");
		goto cleanup;
	}
	if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0 &&
	    store_mkdirs(path, err) != 0)
		goto cleanup;
	if (!(st = calloc(1, sizeof(*st)))) {
		if (err)
			*err = strdup("store: out of memory");
		goto cleanup;
	}
	pthread_mutex_init(&st->mu, NULL);
	if (!(st->path = strdup(path))) {
		store_set_err(st, "store: out of memory");
		goto cleanup;
	}
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				    SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK) {
		store_db_err(st, "open");
		goto cleanup;
	}
	if (store_configure(st) != 0 || store_migrate(st) != 0)
		goto cleanup;
	for (int i = 0; i < S_N_STMTS; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->stmt[i], NULL) != SQLITE_OK) {
			store_db_err(st, "prepare statement");
			goto cleanup;
		}
	}
	*out = st;
	st = NULL;
	rc = OSH_STORE_OK;
cleanup:
	if (st && err && !*err)
		*err = strdup(store_err_buf);
	osh_store_close(st);
	return rc;
}

/* Reset and clear bindings so a cached statement holds no locks or pointers. */
static void store_reset(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

static int store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int store_step_done(osh_store *st, sqlite3_stmt *s, const char *what)
{
	int r = sqlite3_step(s);

	if (r != SQLITE_DONE) {
		store_db_err(st, what);
		sqlite3_reset(s);
		return r;
	}
	return SQLITE_DONE;
}

static int store_begin(osh_store *st)
{
	sqlite3_stmt *s = st->stmt[S_BEGIN];
	int r = store_step_done(st, s, "begin transaction");

	store_reset(s);
	return r == SQLITE_DONE ? 0 : -1;
}

static int store_commit(osh_store *st)
{
	sqlite3_stmt *s = st->stmt[S_COMMIT];
	int r = store_step_done(st, s, "commit");

	store_reset(s);
	return r == SQLITE_DONE ? 0 : -1;
}

static void store_rollback(osh_store *st)
{
	sqlite3_stmt *s = st->stmt[S_ROLLBACK];

	if (sqlite3_get_autocommit(st->db))
		return;
	sqlite3_step(s);
	store_reset(s);
}

/* Build an object from the current row of a statement selecting OBJECT_COLS,
 * and its labels when with_labels is set. */
static int store_row_to_object(osh_store *st, sqlite3_stmt *s, int with_labels,
			       osh_object **out)
{
	sqlite3_stmt *ls = st->stmt[S_LABELS];
	osh_object *o = calloc(1, sizeof(*o));
	size_t cap = 0;
	int rc = OSH_STORE_ERROR, r;

	*out = NULL;
	if (!o) {
		store_set_err(st, "store: out of memory reading an object");
		goto cleanup;
	}
	o->id = store_strdup(sqlite3_column_text(s, 0));
	o->type = store_strdup(sqlite3_column_text(s, 1));
	o->workspace = store_strdup(sqlite3_column_text(s, 2));
	o->name = store_strdup(sqlite3_column_text(s, 3));
	o->resource_version = (uint64_t)sqlite3_column_int64(s, 4);
	o->created_at_ms = sqlite3_column_int64(s, 5);
	o->updated_at_ms = sqlite3_column_int64(s, 6);
	const void *blob = sqlite3_column_blob(s, 7);
	o->payload_len = (size_t)sqlite3_column_bytes(s, 7);
	o->payload = malloc(o->payload_len ? o->payload_len : 1);
	if (!o->id || !o->type || !o->workspace || !o->name || !o->payload) {
		store_set_err(st, "store: out of memory reading object \"%s\"", o->id ? o->id : "");
		goto cleanup;
	}
	if (o->payload_len)
		memcpy(o->payload, blob, o->payload_len);

	if (!with_labels) {
		*out = o;
		return OSH_STORE_OK;
	}
	if (store_bind_text(ls, 1, o->id) != SQLITE_OK) {
		store_db_err(st, "bind label query");
		goto cleanup;
	}
	while ((r = sqlite3_step(ls)) == SQLITE_ROW) {
		if (o->n_labels == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			osh_label *nl = realloc(o->labels, ncap * sizeof(*nl));
			if (!nl) {
				store_set_err(st, "store: out of memory reading labels of \"%s\"",
					      o->id);
				goto cleanup;
			}
			o->labels = nl;
			cap = ncap;
		}
		osh_label *l = &o->labels[o->n_labels];
		l->key = store_strdup(sqlite3_column_text(ls, 0));
		l->value = store_strdup(sqlite3_column_text(ls, 1));
		o->n_labels++;
		if (!l->key || !l->value) {
			store_set_err(st, "store: out of memory reading labels of \"%s\"", o->id);
			goto cleanup;
		}
	}
	if (r != SQLITE_DONE) {
		store_db_err(st, "read labels");
		goto cleanup;
	}
	*out = o;
	o = NULL;
	rc = OSH_STORE_OK;
cleanup:
	store_reset(ls);
	osh_object_free(o);
	return rc;
}

static int store_check_object(osh_store *st, const osh_object *o, const char *op)
{
	if (!o || !o->id || !o->type || !o->workspace || !o->name ||
	    (o->payload_len && !o->payload) || (o->n_labels && !o->labels)) {
		store_set_err(st, "store: %s: object is missing id, type, workspace, name, "
			      "payload or labels", op);
		return -1;
	}
	for (size_t i = 0; i < o->n_labels; i++) {
		if (!o->labels[i].key || !o->labels[i].value) {
			store_set_err(st, "store: %s object \"%s\": label %zu has no key or value",
				      op, o->id, i);
			return -1;
		}
	}
	if (o->payload_len > (size_t)INT32_MAX) {
		store_set_err(st, "store: %s object \"%s\": payload of %zu bytes is too large",
			      op, o->id, o->payload_len);
		return -1;
	}
	return 0;
}

/* Insert o's labels; caller is in a transaction. */
static int store_insert_labels(osh_store *st, const osh_object *o, const char *op)
{
	sqlite3_stmt *s = st->stmt[S_INSERT_LABEL];
	int rc = -1;

	for (size_t i = 0; i < o->n_labels; i++) {
		if (store_bind_text(s, 1, o->id) != SQLITE_OK ||
		    store_bind_text(s, 2, o->labels[i].key) != SQLITE_OK ||
		    store_bind_text(s, 3, o->labels[i].value) != SQLITE_OK) {
			store_db_err(st, "bind label");
			goto cleanup;
		}
		int r = sqlite3_step(s);
		if (r == SQLITE_CONSTRAINT_PRIMARYKEY) {
			store_set_err(st, "store: %s object \"%s\": label key \"%s\" appears twice",
				      op, o->id, o->labels[i].key);
			goto cleanup;
		}
		if (r != SQLITE_DONE) {
			store_db_err(st, "insert label");
			goto cleanup;
		}
		sqlite3_reset(s);
	}
	rc = 0;
cleanup:
	store_reset(s);
	return rc;
}

int osh_store_insert(osh_store *st, osh_object *o)
{
	sqlite3_stmt *s = st->stmt[S_INSERT];
	int rc = OSH_STORE_ERROR, in_tx = 0;
	int64_t now = store_now_ms();
	int64_t created = o && o->created_at_ms ? o->created_at_ms : now;

	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (store_check_object(st, o, "insert") != 0)
		goto cleanup;
	if (store_begin(st) != 0)
		goto cleanup;
	in_tx = 1;
	if (store_bind_text(s, 1, o->id) != SQLITE_OK ||
	    store_bind_text(s, 2, o->type) != SQLITE_OK ||
	    store_bind_text(s, 3, o->workspace) != SQLITE_OK ||
	    store_bind_text(s, 4, o->name) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, created) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, now) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 7, o->payload_len ? (const void *)o->payload : "",
			      (int)o->payload_len, SQLITE_STATIC) != SQLITE_OK) {
		store_db_err(st, "bind insert");
		goto cleanup;
	}
	int r = sqlite3_step(s);
	if (r == SQLITE_CONSTRAINT_PRIMARYKEY || r == SQLITE_CONSTRAINT_UNIQUE) {
		store_set_err(st, "store: insert %s \"%s\" in workspace \"%s\": %s already exists",
			      o->type, o->name, o->workspace,
			      r == SQLITE_CONSTRAINT_UNIQUE ? "an object with this name"
							    : "an object with this id");
		rc = OSH_STORE_EXISTS;
		goto cleanup;
	}
	if (r != SQLITE_DONE) {
		store_db_err(st, "insert object");
		goto cleanup;
	}
	if (store_insert_labels(st, o, "insert") != 0 || store_commit(st) != 0)
		goto cleanup;
	in_tx = 0;
	o->resource_version = 1;
	o->created_at_ms = created;
	o->updated_at_ms = now;
	rc = OSH_STORE_OK;
cleanup:
	store_reset(s);
	if (in_tx)
		store_rollback(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Run a cached single-object query whose parameters are bound. */
static int store_get_one(osh_store *st, sqlite3_stmt *s, const char *what, osh_object **out)
{
	int r = sqlite3_step(s);

	if (r == SQLITE_ROW)
		return store_row_to_object(st, s, 1, out);
	if (r == SQLITE_DONE) {
		store_set_err(st, "store: %s not found", what);
		return OSH_STORE_NOT_FOUND;
	}
	store_db_err(st, "read object");
	return OSH_STORE_ERROR;
}

int osh_store_get(osh_store *st, const char *id, osh_object **out)
{
	sqlite3_stmt *s = st->stmt[S_GET_ID];
	char what[128];
	int rc = OSH_STORE_ERROR;

	*out = NULL;
	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (!id) {
		store_set_err(st, "store: get: id is NULL");
		goto cleanup;
	}
	if (store_bind_text(s, 1, id) != SQLITE_OK) {
		store_db_err(st, "bind get");
		goto cleanup;
	}
	snprintf(what, sizeof(what), "object \"%s\"", id);
	rc = store_get_one(st, s, what, out);
cleanup:
	store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int osh_store_get_by_name(osh_store *st, const char *type, const char *workspace,
			  const char *name, osh_object **out)
{
	sqlite3_stmt *s = st->stmt[S_GET_NAME];
	char what[256];
	int rc = OSH_STORE_ERROR;

	*out = NULL;
	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (!type || !workspace || !name) {
		store_set_err(st, "store: get by name: type, workspace or name is NULL");
		goto cleanup;
	}
	if (store_bind_text(s, 1, type) != SQLITE_OK ||
	    store_bind_text(s, 2, workspace) != SQLITE_OK ||
	    store_bind_text(s, 3, name) != SQLITE_OK) {
		store_db_err(st, "bind get by name");
		goto cleanup;
	}
	snprintf(what, sizeof(what), "%s \"%s\" in workspace \"%s\"", type, name, workspace);
	rc = store_get_one(st, s, what, out);
cleanup:
	store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* After a CAS statement changed nothing: NOT_FOUND or CONFLICT (with message). */
static int store_cas_miss(osh_store *st, const char *op, const char *id, uint64_t expected_rv)
{
	sqlite3_stmt *s = st->stmt[S_RV];
	int rc = OSH_STORE_ERROR;

	if (store_bind_text(s, 1, id) != SQLITE_OK) {
		store_db_err(st, "bind version query");
		goto cleanup;
	}
	int r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		store_set_err(st, "store: %s object \"%s\": not found", op, id);
		rc = OSH_STORE_NOT_FOUND;
	} else if (r == SQLITE_ROW) {
		store_set_err(st, "store: %s object \"%s\": resource_version conflict "
			      "(expected %" PRIu64 ", current %" PRIu64 ")", op, id, expected_rv,
			      (uint64_t)sqlite3_column_int64(s, 0));
		rc = OSH_STORE_CONFLICT;
	} else {
		store_db_err(st, "read resource_version");
	}
cleanup:
	store_reset(s);
	return rc;
}

int osh_store_update(osh_store *st, osh_object *o, uint64_t expected_rv)
{
	sqlite3_stmt *s = st->stmt[S_UPDATE];
	sqlite3_stmt *dl = st->stmt[S_DELETE_LABELS];
	int rc = OSH_STORE_ERROR, in_tx = 0;
	int64_t now = store_now_ms();

	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (store_check_object(st, o, "update") != 0)
		goto cleanup;
	if (store_begin(st) != 0)
		goto cleanup;
	in_tx = 1;
	if (store_bind_text(s, 1, o->name) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 2, o->payload_len ? (const void *)o->payload : "",
			      (int)o->payload_len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, now) != SQLITE_OK ||
	    store_bind_text(s, 4, o->id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, (int64_t)expected_rv) != SQLITE_OK) {
		store_db_err(st, "bind update");
		goto cleanup;
	}
	int r = sqlite3_step(s);
	if (r == SQLITE_CONSTRAINT_UNIQUE) {
		store_set_err(st, "store: update object \"%s\": name \"%s\" is taken in its "
			      "workspace", o->id, o->name);
		rc = OSH_STORE_EXISTS;
		goto cleanup;
	}
	if (r != SQLITE_DONE) {
		store_db_err(st, "update object");
		goto cleanup;
	}
	if (sqlite3_changes(st->db) == 0) {
		rc = store_cas_miss(st, "update", o->id, expected_rv);
		goto cleanup;
	}
	if (store_bind_text(dl, 1, o->id) != SQLITE_OK ||
	    store_step_done(st, dl, "delete old labels") != SQLITE_DONE)
		goto cleanup;
	if (store_insert_labels(st, o, "update") != 0 || store_commit(st) != 0)
		goto cleanup;
	in_tx = 0;
	o->resource_version = expected_rv + 1;
	o->updated_at_ms = now;
	rc = OSH_STORE_OK;
cleanup:
	store_reset(s);
	store_reset(dl);
	if (in_tx)
		store_rollback(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int osh_store_delete(osh_store *st, const char *id, uint64_t expected_rv)
{
	sqlite3_stmt *s = st->stmt[expected_rv ? S_DELETE_RV : S_DELETE];
	int rc = OSH_STORE_ERROR;

	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (!id) {
		store_set_err(st, "store: delete: id is NULL");
		goto cleanup;
	}
	if (store_bind_text(s, 1, id) != SQLITE_OK ||
	    (expected_rv && sqlite3_bind_int64(s, 2, (int64_t)expected_rv) != SQLITE_OK)) {
		store_db_err(st, "bind delete");
		goto cleanup;
	}
	if (store_step_done(st, s, "delete object") != SQLITE_DONE)
		goto cleanup;
	if (sqlite3_changes(st->db) == 0) {
		store_reset(s);
		rc = store_cas_miss(st, "delete", id, expected_rv);
		goto cleanup;
	}
	rc = OSH_STORE_OK;
cleanup:
	store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* SQL for a list (count = 0) or count (count = 1) query. Parameters: ?1 type,
 * ?2 workspace, ?3 limit, ?4 offset, then key/value pairs from ?5.
 * The inner query picks the page's rowids from indexes only (objects_list in
 * output order, each selector pair an IN probe into a set built from
 * object_labels_key_value); the outer one reads at most `limit` full rows. */
static char *store_list_sql(int has_ws, size_t n_selector, int count)
{
	size_t cap = 640 + n_selector * 128, len = 0;
	char *sql = malloc(cap);

	if (!sql)
		return NULL;
	len += (size_t)snprintf(sql + len, cap - len, "%s FROM objects p WHERE p.type = ?1",
				count ? "SELECT count(*)"
				      : "SELECT " OBJECT_COLS " FROM objects WHERE rowid IN ("
					"SELECT p.rowid");
	if (has_ws)
		len += (size_t)snprintf(sql + len, cap - len, " AND p.workspace = ?2");
	for (size_t i = 0; i < n_selector; i++)
		len += (size_t)snprintf(sql + len, cap - len,
					" AND p.id IN (SELECT object_id FROM object_labels"
					" WHERE key = ?%zu AND value = ?%zu)",
					5 + 2 * i, 6 + 2 * i);
	if (!count)
		snprintf(sql + len, cap - len, " ORDER BY p.workspace, p.name LIMIT ?3 OFFSET ?4)"
					       " ORDER BY workspace, name");
	return sql;
}

/* A bound list/count statement: cached when small, else *owned is set and the
 * caller finalizes it. */
static sqlite3_stmt *store_list_stmt(osh_store *st, const char *type, const char *workspace,
				     const osh_label *selector, size_t n_selector, int count,
				     int *owned)
{
	sqlite3_stmt *s = NULL;
	char *sql = NULL;
	int has_ws = workspace != NULL;

	*owned = 0;
	if (!type || (n_selector && !selector)) {
		store_set_err(st, "store: list: type is NULL or selector is missing");
		return NULL;
	}
	for (size_t i = 0; i < n_selector; i++) {
		if (!selector[i].key || !selector[i].value) {
			store_set_err(st, "store: list: selector pair %zu has no key or value", i);
			return NULL;
		}
	}
	if (!count && n_selector <= STORE_LIST_CACHE)
		s = st->list_stmt[has_ws][n_selector];
	if (!s) {
		sql = store_list_sql(has_ws, n_selector, count);
		if (!sql) {
			store_set_err(st, "store: out of memory building a list query");
			return NULL;
		}
		int cached = !count && n_selector <= STORE_LIST_CACHE;
		if (sqlite3_prepare_v3(st->db, sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &s,
				       NULL) != SQLITE_OK) {
			store_db_err(st, "prepare list query");
			free(sql);
			return NULL;
		}
		free(sql);
		if (cached)
			st->list_stmt[has_ws][n_selector] = s;
		else
			*owned = 1;
	}
	int ok = store_bind_text(s, 1, type) == SQLITE_OK &&
		 (!has_ws || store_bind_text(s, 2, workspace) == SQLITE_OK);
	for (size_t i = 0; ok && i < n_selector; i++)
		ok = store_bind_text(s, (int)(5 + 2 * i), selector[i].key) == SQLITE_OK &&
		     store_bind_text(s, (int)(6 + 2 * i), selector[i].value) == SQLITE_OK;
	if (!ok) {
		store_db_err(st, "bind list query");
		if (*owned)
			sqlite3_finalize(s);
		else
			store_reset(s);
		*owned = 0;
		return NULL;
	}
	return s;
}

int osh_store_list(osh_store *st, const char *type, const char *workspace,
		   const osh_label *selector, size_t n_selector, uint32_t limit,
		   uint32_t offset, osh_object ***out, size_t *n_out)
{
	osh_object **v = NULL;
	size_t n = 0, cap = 0;
	int rc = OSH_STORE_ERROR, owned = 0, r;
	sqlite3_stmt *s = NULL;

	*out = NULL;
	*n_out = 0;
	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	s = store_list_stmt(st, type, workspace, selector, n_selector, 0, &owned);
	if (!s)
		goto cleanup;
	if (sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, offset) != SQLITE_OK) {
		store_db_err(st, "bind list paging");
		goto cleanup;
	}
	if (limit) {
		cap = limit < 1024 ? limit : 1024;
		if (!(v = malloc(cap * sizeof(*v)))) {
			store_set_err(st, "store: out of memory listing objects");
			goto cleanup;
		}
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			osh_object **nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				store_set_err(st, "store: out of memory listing objects");
				goto cleanup;
			}
			v = nv;
			cap = ncap;
		}
		if (store_row_to_object(st, s, 0, &v[n]) != OSH_STORE_OK)
			goto cleanup;
		n++;
	}
	if (r != SQLITE_DONE) {
		store_db_err(st, "list objects");
		goto cleanup;
	}
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n_out = n;
	v = NULL;
	n = 0;
	rc = OSH_STORE_OK;
cleanup:
	if (owned)
		sqlite3_finalize(s);
	else
		store_reset(s);
	osh_object_array_free(v, n);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int osh_store_count(osh_store *st, const char *type, const char *workspace,
		    const osh_label *selector, size_t n_selector, uint64_t *total)
{
	int rc = OSH_STORE_ERROR, owned = 0;
	sqlite3_stmt *s = NULL;

	*total = 0;
	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	s = store_list_stmt(st, type, workspace, selector, n_selector, 1, &owned);
	if (!s)
		goto cleanup;
	if (sqlite3_step(s) != SQLITE_ROW) {
		store_db_err(st, "count objects");
		goto cleanup;
	}
	*total = (uint64_t)sqlite3_column_int64(s, 0);
	rc = OSH_STORE_OK;
cleanup:
	if (owned)
		sqlite3_finalize(s);
	else
		store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int osh_store_meta_get(osh_store *st, const char *key, char **value)
{
	sqlite3_stmt *s = st->stmt[S_META_GET];
	int rc = OSH_STORE_ERROR;

	*value = NULL;
	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (!key) {
		store_set_err(st, "store: meta get: key is NULL");
		goto cleanup;
	}
	if (store_bind_text(s, 1, key) != SQLITE_OK) {
		store_db_err(st, "bind meta get");
		goto cleanup;
	}
	int r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		store_set_err(st, "store: meta key \"%s\" is not set", key);
		rc = OSH_STORE_NOT_FOUND;
		goto cleanup;
	}
	if (r != SQLITE_ROW) {
		store_db_err(st, "read meta");
		goto cleanup;
	}
	if (!(*value = store_strdup(sqlite3_column_text(s, 0)))) {
		store_set_err(st, "store: out of memory reading meta key \"%s\"", key);
		goto cleanup;
	}
	rc = OSH_STORE_OK;
cleanup:
	store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int osh_store_meta_set(osh_store *st, const char *key, const char *value)
{
	sqlite3_stmt *s = st->stmt[S_META_SET];
	int rc = OSH_STORE_ERROR;

	pthread_mutex_lock(&st->mu);
	store_clear_err(st);
	if (!key || !value) {
		store_set_err(st, "store: meta set: key or value is NULL");
		goto cleanup;
	}
	if (store_bind_text(s, 1, key) != SQLITE_OK || store_bind_text(s, 2, value) != SQLITE_OK) {
		store_db_err(st, "bind meta set");
		goto cleanup;
	}
	if (store_step_done(st, s, "write meta") != SQLITE_DONE)
		goto cleanup;
	rc = OSH_STORE_OK;
cleanup:
	store_reset(s);
	pthread_mutex_unlock(&st->mu);
	return rc;
}
