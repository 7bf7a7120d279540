/* store.h - the gateway's durable object store (SQLite, WAL mode).
 *
 * Objects are (id, type, workspace, name) rows with a resource version, two
 * timestamps, an opaque payload (the gateway stores a serialized
 * openshell.v1.Sandbox) and labels kept separately for selector queries.
 *
 * Thread-safety: every function is thread-safe. An osh_store holds ONE SQLite
 * connection guarded by one mutex (the "global store mutex"); each call is
 * atomic with respect to the others. Callers must not hold the store across
 * fork(). Writes are durable against SIGKILL of the process once the call
 * returns OSH_STORE_OK (not against power loss: synchronous=NORMAL).
 *
 * Errors: OSH_STORE_ERROR and the non-OK codes leave a sentence in a per-thread
 * slot readable with osh_store_errmsg(). */
#ifndef OSH_STORE_H
#define OSH_STORE_H

#include <stddef.h>
#include <stdint.h>

enum {
	OSH_STORE_OK = 0,
	OSH_STORE_NOT_FOUND = 1,
	OSH_STORE_EXISTS = 2,
	OSH_STORE_CONFLICT = 3,
	OSH_STORE_ERROR = -1
};

/* Schema version this code writes; a database with a higher one is refused. */
#define OSH_STORE_SCHEMA_VERSION 1

typedef struct osh_store osh_store;

typedef struct osh_label {
	char *key;
	char *value;
} osh_label;

/* Every pointer is malloc'd and owned by the object (osh_object_free).
 * payload is never NULL on objects returned by the store (1 spare byte when
 * payload_len is 0); it may contain NUL bytes. Labels come back sorted by key. */
typedef struct osh_object {
	char *id, *type, *workspace, *name;
	uint64_t resource_version;
	int64_t created_at_ms, updated_at_ms;
	uint8_t *payload;
	size_t payload_len;
	osh_label *labels;
	size_t n_labels;
} osh_object;

/* Open (creating if missing) the database at path; parent directories are
 * created with mode 0700. Runs schema migrations. On failure returns
 * OSH_STORE_ERROR, *out = NULL and *err = malloc'd sentence naming the file
 * (caller frees; err may be NULL). */
int osh_store_open(const char *path, osh_store **out, char **err);
/* Finalizes statements and closes the connection. NULL is a no-op. */
void osh_store_close(osh_store *st);

/* Free an object's contents and the object itself. NULL is a no-op. */
void osh_object_free(osh_object *o);
/* Free n objects and the array. NULL is a no-op. */
void osh_object_array_free(osh_object **v, size_t n);

/* Must-create. Reads id, type, workspace, name, created_at_ms (0 = now),
 * payload and labels from o. On OK sets o->resource_version = 1 and
 * o->updated_at_ms (and created_at_ms when it was 0). EXISTS when the id or
 * (type, workspace, name) is taken. Duplicate label keys are OSH_STORE_ERROR. */
int osh_store_insert(osh_store *st, osh_object *o);

/* Lookups. On OK *out is a new object (osh_object_free); NOT_FOUND otherwise. */
int osh_store_get(osh_store *st, const char *id, osh_object **out);
int osh_store_get_by_name(osh_store *st, const char *type, const char *workspace,
			  const char *name, osh_object **out);

/* Compare-and-set on resource_version for the row o->id. Writes name, payload,
 * labels (replaced entirely) and updated_at_ms; type, workspace and
 * created_at_ms are immutable and ignored. CONFLICT if the row's version is
 * not expected_rv (row unchanged; errmsg names the current version),
 * NOT_FOUND if the row is gone, EXISTS if the new name is taken. On OK sets
 * o->resource_version = expected_rv + 1 and o->updated_at_ms. */
int osh_store_update(osh_store *st, osh_object *o, uint64_t expected_rv);

/* Delete row id (its labels go with it). expected_rv 0 = unconditional,
 * otherwise CONFLICT if the row's version differs. NOT_FOUND if absent. */
int osh_store_delete(osh_store *st, const char *id, uint64_t expected_rv);

/* Objects of one type ordered by (workspace, name). workspace NULL = every
 * workspace. selector: n_selector key=value pairs that must all match (AND);
 * NULL/0 = no filter. limit 0 = no limit; limit and offset are applied in SQL.
 * On OK *out is a malloc'd array of *n_out objects (NULL when 0);
 * free with osh_object_array_free(*out, *n_out). Listed objects carry no
 * labels (n_labels 0): reading them per row would double the cost of a page,
 * and the payload holds them anyway; osh_store_get returns them. */
int osh_store_list(osh_store *st, const char *type, const char *workspace,
		   const osh_label *selector, size_t n_selector, uint32_t limit,
		   uint32_t offset, osh_object ***out, size_t *n_out);

/* Number of objects osh_store_list would return without limit/offset. */
int osh_store_count(osh_store *st, const char *type, const char *workspace,
		    const osh_label *selector, size_t n_selector, uint64_t *total);

/* Gateway-wide key/value settings (e.g. "gateway_id"). meta_get: on OK *value
 * is malloc'd (caller frees); NOT_FOUND if unset. meta_set upserts. */
int osh_store_meta_get(osh_store *st, const char *key, char **value);
int osh_store_meta_set(osh_store *st, const char *key, const char *value);

/* Last error sentence set by a call on st from this thread ("" if none).
 * Valid until the next store call on this thread. */
const char *osh_store_errmsg(osh_store *st);

#endif
