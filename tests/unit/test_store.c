/* test_store.c - unit tests of the SQLite object store (gateway/store.c).
 * Each test runs in its own mkdtemp directory. */
#include "config.h"

#include "store.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];
static char dbpath[256];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/osh-test-store-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/state/sub/gateway.db", tmpdir);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

static osh_store *open_store(void)
{
	osh_store *st = NULL;
	char *err = NULL;
	int rc = osh_store_open(dbpath, &st, &err);

	cr_assert_eq(rc, OSH_STORE_OK, "open: %s", err ? err : "(no message)");
	cr_assert_null(err);
	cr_assert_not_null(st);
	return st;
}

/* A heap object; labels given as "k=v" strings, NULL-terminated. */
static osh_object *mk(const char *id, const char *ws, const char *name, const void *payload,
		      size_t len, ...)
{
	osh_object *o = calloc(1, sizeof(*o));
	va_list ap;
	const char *kv;

	cr_assert_not_null(o);
	o->id = strdup(id);
	o->type = strdup("sandbox");
	o->workspace = strdup(ws);
	o->name = strdup(name);
	o->payload = malloc(len ? len : 1);
	memcpy(o->payload, payload, len);
	o->payload_len = len;
	va_start(ap, len);
	while ((kv = va_arg(ap, const char *))) {
		const char *eq = strchr(kv, '=');
		o->labels = realloc(o->labels, (o->n_labels + 1) * sizeof(*o->labels));
		o->labels[o->n_labels].key = strndup(kv, (size_t)(eq - kv));
		o->labels[o->n_labels].value = strdup(eq + 1);
		o->n_labels++;
	}
	va_end(ap);
	return o;
}

static void set_labels(osh_object *o, const char *k, const char *v)
{
	for (size_t i = 0; i < o->n_labels; i++) {
		free(o->labels[i].key);
		free(o->labels[i].value);
	}
	free(o->labels);
	o->labels = NULL;
	o->n_labels = 0;
	if (k) {
		o->labels = calloc(1, sizeof(*o->labels));
		o->labels[0].key = strdup(k);
		o->labels[0].value = strdup(v);
		o->n_labels = 1;
	}
}

static int insert_simple(osh_store *st, const char *id, const char *ws, const char *name)
{
	osh_object *o = mk(id, ws, name, "x", 1, NULL);
	int rc = osh_store_insert(st, o);

	osh_object_free(o);
	return rc;
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

Test(store, frees_accept_null)
{
	osh_object_free(NULL);
	osh_object_array_free(NULL, 0);
	osh_store_close(NULL);
}

Test(store, insert_get_round_trip)
{
	osh_store *st = open_store();
	static const uint8_t payload[] = { 'a', 0, 'b', 0, 0, 0xff, 'c', 0 };
	osh_object *o = mk("id-1", "default", "demo", payload, sizeof(payload), "app=web",
			   "env=prod", NULL);
	osh_object *g = NULL, *n = NULL;

	o->created_at_ms = 1234;
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK, "%s", osh_store_errmsg(st));
	cr_assert_eq(o->resource_version, 1);
	cr_assert_gt(o->updated_at_ms, 0);
	cr_assert_eq(o->created_at_ms, 1234);

	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_OK);
	cr_assert_eq(osh_store_get_by_name(st, "sandbox", "default", "demo", &n), OSH_STORE_OK);
	osh_object *both[] = { g, n };
	for (int i = 0; i < 2; i++) {
		osh_object *x = both[i];
		cr_assert_str_eq(x->id, "id-1");
		cr_assert_str_eq(x->type, "sandbox");
		cr_assert_str_eq(x->workspace, "default");
		cr_assert_str_eq(x->name, "demo");
		cr_assert_eq(x->resource_version, 1);
		cr_assert_eq(x->created_at_ms, 1234);
		cr_assert_eq(x->updated_at_ms, o->updated_at_ms);
		cr_assert_eq(x->payload_len, sizeof(payload));
		cr_assert_arr_eq(x->payload, payload, sizeof(payload));
		cr_assert_eq(x->n_labels, 2);
		cr_assert_str_eq(x->labels[0].key, "app");
		cr_assert_str_eq(x->labels[0].value, "web");
		cr_assert_str_eq(x->labels[1].key, "env");
		cr_assert_str_eq(x->labels[1].value, "prod");
	}
	osh_object_free(g);
	osh_object_free(n);

	cr_assert_eq(osh_store_get(st, "nope", &g), OSH_STORE_NOT_FOUND);
	cr_assert_null(g);
	cr_assert_eq(osh_store_get_by_name(st, "sandbox", "other", "demo", &g), OSH_STORE_NOT_FOUND);
	cr_assert_eq(osh_store_get_by_name(st, "template", "default", "demo", &g),
		     OSH_STORE_NOT_FOUND);
	cr_assert_null(g);
	osh_object_free(o);
	osh_store_close(st);
}

Test(store, empty_payload_and_default_created_at)
{
	osh_store *st = open_store();
	osh_object *o = mk("id-e", "default", "empty", "", 0, NULL), *g = NULL;

	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK, "%s", osh_store_errmsg(st));
	cr_assert_gt(o->created_at_ms, 0);
	cr_assert_eq(osh_store_get(st, "id-e", &g), OSH_STORE_OK);
	cr_assert_eq(g->payload_len, 0);
	cr_assert_not_null(g->payload);
	cr_assert_eq(g->n_labels, 0);
	cr_assert_null(g->labels);
	osh_object_free(g);
	osh_object_free(o);
	osh_store_close(st);
}

Test(store, duplicate_names_and_ids)
{
	osh_store *st = open_store();

	cr_assert_eq(insert_simple(st, "a", "default", "demo"), OSH_STORE_OK);
	cr_assert_eq(insert_simple(st, "b", "default", "demo"), OSH_STORE_EXISTS);
	cr_assert(strstr(osh_store_errmsg(st), "demo"), "%s", osh_store_errmsg(st));
	cr_assert_eq(insert_simple(st, "c", "team-a", "demo"), OSH_STORE_OK);
	cr_assert_eq(insert_simple(st, "a", "team-b", "other"), OSH_STORE_EXISTS);

	osh_object *o = mk("d", "default", "demo", "x", 1, NULL);
	free(o->type);
	o->type = strdup("template");
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	osh_object_free(o);

	/* A failed insert leaves nothing behind, labels included. */
	o = mk("e", "default", "dup-labels", "x", 1, "k=1", "k=2", NULL);
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_ERROR);
	cr_assert(strstr(osh_store_errmsg(st), "\"k\""), "%s", osh_store_errmsg(st));
	osh_object_free(o);
	osh_object *g = NULL;
	cr_assert_eq(osh_store_get(st, "e", &g), OSH_STORE_NOT_FOUND);
	cr_assert_eq(osh_store_get(st, "b", &g), OSH_STORE_NOT_FOUND);
	osh_store_close(st);
	cr_assert_eq(raw_int("SELECT count(*) FROM objects"), 3);
	cr_assert_eq(raw_int("SELECT count(*) FROM object_labels"), 0);
}

Test(store, cas_update)
{
	osh_store *st = open_store();
	osh_object *o = mk("id-1", "default", "demo", "v1", 2, "phase=provisioning", NULL);
	osh_object *g = NULL;

	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	memcpy(o->payload, "v2", 2);
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_OK, "%s", osh_store_errmsg(st));
	cr_assert_eq(o->resource_version, 2);
	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_OK);
	cr_assert_eq(g->resource_version, 2);
	cr_assert_arr_eq(g->payload, "v2", 2);
	int64_t upd = g->updated_at_ms;
	osh_object_free(g);

	/* Stale version: conflict, row unchanged. */
	memcpy(o->payload, "v3", 2);
	free(o->name);
	o->name = strdup("renamed");
	set_labels(o, "phase", "ready");
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_CONFLICT);
	cr_assert(strstr(osh_store_errmsg(st), "current 2"), "%s", osh_store_errmsg(st));
	cr_assert_eq(o->resource_version, 2);
	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_OK);
	cr_assert_eq(g->resource_version, 2);
	cr_assert_str_eq(g->name, "demo");
	cr_assert_arr_eq(g->payload, "v2", 2);
	cr_assert_eq(g->updated_at_ms, upd);
	cr_assert_eq(g->n_labels, 1);
	cr_assert_str_eq(g->labels[0].value, "provisioning");
	osh_object_free(g);

	/* Rename through CAS; name clash is EXISTS. */
	cr_assert_eq(osh_store_update(st, o, 2), OSH_STORE_OK);
	cr_assert_eq(o->resource_version, 3);
	cr_assert_eq(osh_store_get_by_name(st, "sandbox", "default", "renamed", &g), OSH_STORE_OK);
	cr_assert_str_eq(g->id, "id-1");
	osh_object_free(g);
	cr_assert_eq(insert_simple(st, "id-2", "default", "taken"), OSH_STORE_OK);
	free(o->name);
	o->name = strdup("taken");
	cr_assert_eq(osh_store_update(st, o, 3), OSH_STORE_EXISTS);

	/* Gone: NOT_FOUND. */
	free(o->id);
	o->id = strdup("missing");
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_NOT_FOUND);
	osh_object_free(o);
	osh_store_close(st);
}

Test(store, delete)
{
	osh_store *st = open_store();
	osh_object *o = mk("id-1", "default", "demo", "x", 1, "a=b", NULL), *g = NULL;

	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_OK);
	cr_assert_eq(osh_store_delete(st, "id-1", 1), OSH_STORE_CONFLICT);
	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_OK);
	osh_object_free(g);
	cr_assert_eq(osh_store_delete(st, "id-1", 2), OSH_STORE_OK);
	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_NOT_FOUND);
	cr_assert_eq(osh_store_delete(st, "id-1", 0), OSH_STORE_NOT_FOUND);
	cr_assert_eq(osh_store_delete(st, "id-1", 2), OSH_STORE_NOT_FOUND);
	cr_assert_eq(osh_store_delete(st, "never", 0), OSH_STORE_NOT_FOUND);

	/* Unconditional delete; the name is free again. */
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	cr_assert_eq(osh_store_delete(st, "id-1", 0), OSH_STORE_OK);
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	cr_assert_eq(osh_store_delete(st, "id-1", 0), OSH_STORE_OK);
	osh_object_free(o);
	osh_store_close(st);
	cr_assert_eq(raw_int("SELECT count(*) FROM object_labels"), 0, "labels cascade");
}

static int obj_cmp(const osh_object *a, const osh_object *b)
{
	int c = strcmp(a->workspace, b->workspace);
	return c ? c : strcmp(a->name, b->name);
}

Test(store, list_paging_and_workspaces)
{
	osh_store *st = open_store();
	const char *ws[] = { "alpha", "beta", "gamma" };
	enum { N = 1000 };
	int seen[N] = { 0 };
	char id[32], name[32];

	/* Insert in a scrambled order so ordering comes from the query. */
	for (int k = 0; k < N; k++) {
		int i = (k * 7919) % N;
		snprintf(id, sizeof(id), "id-%04d", i);
		snprintf(name, sizeof(name), "sb-%04d", (i * 31) % N);
		cr_assert_eq(insert_simple(st, id, ws[i % 3], name), OSH_STORE_OK, "%s",
			     osh_store_errmsg(st));
	}
	/* Another type in the same workspace never shows up in sandbox lists. */
	osh_object *t = mk("tmpl", "alpha", "sb-0000x", "x", 1, NULL);
	free(t->type);
	t->type = strdup("template");
	cr_assert_eq(osh_store_insert(st, t), OSH_STORE_OK);
	osh_object_free(t);

	osh_object *prev = NULL;
	size_t total = 0;
	for (uint32_t off = 0;; off += 97) {
		osh_object **v = NULL;
		size_t n = 0;
		cr_assert_eq(osh_store_list(st, "sandbox", NULL, NULL, 0, 97, off, &v, &n),
			     OSH_STORE_OK);
		if (n == 0) {
			cr_assert_null(v);
			break;
		}
		cr_assert_leq(n, 97);
		for (size_t j = 0; j < n; j++) {
			int i = atoi(v[j]->id + 3);
			cr_assert_eq(seen[i], 0, "row %s seen twice", v[j]->id);
			seen[i] = 1;
			if (prev)
				cr_assert_lt(obj_cmp(prev, v[j]), 0, "order %s/%s then %s/%s",
					     prev->workspace, prev->name, v[j]->workspace,
					     v[j]->name);
			osh_object_free(prev);
			prev = v[j];
			v[j] = NULL;
			total++;
		}
		osh_object_array_free(v, n);
	}
	osh_object_free(prev);
	cr_assert_eq(total, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "row %d never seen", i);

	/* Workspace filter and limit 0 = all. */
	for (int w = 0; w < 3; w++) {
		osh_object **v = NULL;
		size_t n = 0;
		uint64_t cnt = 0;
		cr_assert_eq(osh_store_list(st, "sandbox", ws[w], NULL, 0, 0, 0, &v, &n),
			     OSH_STORE_OK);
		cr_assert_eq(n, w == 0 ? 334u : 333u, "workspace %s: %zu rows", ws[w], n);
		for (size_t j = 0; j < n; j++)
			cr_assert_str_eq(v[j]->workspace, ws[w]);
		osh_object_array_free(v, n);
		cr_assert_eq(osh_store_count(st, "sandbox", ws[w], NULL, 0, &cnt), OSH_STORE_OK);
		cr_assert_eq(cnt, n);
	}
	osh_object **v = NULL;
	size_t n = 0;
	cr_assert_eq(osh_store_list(st, "sandbox", "nobody", NULL, 0, 10, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, NULL, 0, 10, N - 3, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 3);
	osh_object_array_free(v, n);
	osh_store_close(st);
}

Test(store, list_selectors)
{
	osh_store *st = open_store();
	char id[32], name[32], app[16];
	enum { N = 120 };

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "id-%03d", i);
		snprintf(name, sizeof(name), "sb-%03d", i);
		snprintf(app, sizeof(app), "app=a%d", i % 4);
		osh_object *o = mk(id, i % 2 ? "odd" : "even", name, "x", 1, app,
				   i % 3 ? "env=dev" : "env=prod", NULL);
		cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
		osh_object_free(o);
	}

	osh_label one[] = { { "env", "prod" } };
	osh_label two[] = { { "env", "prod" }, { "app", "a2" } };
	osh_label none[] = { { "nobody", "has" } };
	osh_label wrongval[] = { { "env", "staging" } };
	osh_object **v = NULL;
	size_t n = 0;
	uint64_t cnt = 0;

	cr_assert_eq(osh_store_list(st, "sandbox", NULL, one, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, N / 3);
	for (size_t j = 0; j < n; j++)
		cr_assert_eq(atoi(v[j]->id + 3) % 3, 0, "%s", v[j]->id);
	osh_object_array_free(v, n);

	cr_assert_eq(osh_store_list(st, "sandbox", NULL, two, 2, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, N / 12);
	for (size_t j = 0; j < n; j++) {
		int i = atoi(v[j]->id + 3);
		cr_assert(i % 3 == 0 && i % 4 == 2, "%s", v[j]->id);
	}
	osh_object_array_free(v, n);
	cr_assert_eq(osh_store_count(st, "sandbox", NULL, two, 2, &cnt), OSH_STORE_OK);
	cr_assert_eq(cnt, N / 12);

	/* Selector + workspace + paging. */
	cr_assert_eq(osh_store_list(st, "sandbox", "even", one, 1, 5, 2, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 5);
	for (size_t j = 0; j < n; j++) {
		int i = atoi(v[j]->id + 3);
		cr_assert(i % 6 == 0, "%s", v[j]->id);
		cr_assert_eq(i, (int)(j + 2) * 6);
	}
	osh_object_array_free(v, n);

	cr_assert_eq(osh_store_list(st, "sandbox", NULL, none, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 0);
	cr_assert_null(v);
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, wrongval, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 0);

	/* More pairs than the statement cache holds. */
	osh_label many[12];
	for (int i = 0; i < 12; i++)
		many[i] = (osh_label){ "env", "prod" };
	many[11] = (osh_label){ "app", "a0" };
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, many, 12, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, N / 12);
	osh_object_array_free(v, n);
	osh_store_close(st);
}

Test(store, labels_replaced_on_update)
{
	osh_store *st = open_store();
	osh_object *o = mk("id-1", "default", "demo", "x", 1, "phase=ready", "keep=me", NULL);
	osh_label old_sel[] = { { "phase", "ready" } };
	osh_label new_sel[] = { { "phase", "stopped" } };
	osh_label keep_sel[] = { { "keep", "me" } };
	osh_object **v = NULL;
	size_t n = 0;

	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	set_labels(o, "phase", "stopped");
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_OK);
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, old_sel, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, keep_sel, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(osh_store_list(st, "sandbox", NULL, new_sel, 1, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(v[0]->n_labels, 0, "listed objects carry no labels");
	osh_object *got = NULL;
	cr_assert_eq(osh_store_get(st, v[0]->id, &got), OSH_STORE_OK);
	cr_assert_eq(got->n_labels, 1);
	cr_assert_str_eq(got->labels[0].value, "stopped");
	osh_object_free(got);
	osh_object_array_free(v, n);
	osh_object_free(o);
	osh_store_close(st);
}

Test(store, survives_reopen_in_wal_mode)
{
	osh_store *st = open_store();
	osh_object *o = mk("id-1", "default", "demo", "abc", 3, "k=v", NULL), *g = NULL;
	struct stat sb;
	char dir[300];

	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	cr_assert_eq(stat(dir, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	cr_assert_eq(osh_store_insert(st, o), OSH_STORE_OK);
	cr_assert_eq(osh_store_update(st, o, 1), OSH_STORE_OK);
	cr_assert_eq(osh_store_meta_set(st, "gateway_id", "gw-1"), OSH_STORE_OK);
	osh_store_close(st);

	st = open_store();
	cr_assert_eq(osh_store_get(st, "id-1", &g), OSH_STORE_OK);
	cr_assert_eq(g->resource_version, 2);
	cr_assert_arr_eq(g->payload, "abc", 3);
	cr_assert_eq(g->n_labels, 1);
	osh_object_free(g);
	char *val = NULL;
	cr_assert_eq(osh_store_meta_get(st, "gateway_id", &val), OSH_STORE_OK);
	cr_assert_str_eq(val, "gw-1");
	free(val);
	osh_store_close(st);

	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	cr_assert_eq(raw_int("PRAGMA user_version"), OSH_STORE_SCHEMA_VERSION);
	osh_object_free(o);
}

Test(store, newer_schema_refused)
{
	osh_store *st = open_store();
	char *err = NULL;

	osh_store_close(st);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	st = (osh_store *)0x1;
	cr_assert_eq(osh_store_open(dbpath, &st, &err), OSH_STORE_ERROR);
	cr_assert_null(st);
	cr_assert_not_null(err);
	cr_assert(strstr(err, dbpath), "message names the file: %s", err);
	cr_assert(strstr(err, "99"), "%s", err);
	free(err);
	/* err is optional. */
	cr_assert_eq(osh_store_open(dbpath, &st, NULL), OSH_STORE_ERROR);
}

Test(store, not_a_database)
{
	char *err = NULL;
	osh_store *st = NULL;
	FILE *f;

	osh_store_close(open_store());
	f = fopen(dbpath, "w");
	cr_assert_not_null(f);
	fputs("this is not an SQLite database, it is a text file long enough to matter......"
	      "................................................................................",
	      f);
	fclose(f);
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	unlink(wal);
	cr_assert_eq(osh_store_open(dbpath, &st, &err), OSH_STORE_ERROR);
	cr_assert(err && strstr(err, dbpath), "%s", err ? err : "(null)");
	free(err);
}

Test(store, meta)
{
	osh_store *st = open_store();
	char *v = (char *)0x1;

	cr_assert_eq(osh_store_meta_get(st, "gateway_id", &v), OSH_STORE_NOT_FOUND);
	cr_assert_null(v);
	cr_assert_eq(osh_store_meta_set(st, "gateway_id", "one"), OSH_STORE_OK);
	cr_assert_eq(osh_store_meta_set(st, "gateway_id", "two"), OSH_STORE_OK);
	cr_assert_eq(osh_store_meta_set(st, "other", ""), OSH_STORE_OK);
	cr_assert_eq(osh_store_meta_get(st, "gateway_id", &v), OSH_STORE_OK);
	cr_assert_str_eq(v, "two");
	free(v);
	cr_assert_eq(osh_store_meta_get(st, "other", &v), OSH_STORE_OK);
	cr_assert_str_eq(v, "");
	free(v);
	osh_store_close(st);
}

/* A child commits rows and SIGKILLs itself right after the last commit (no
 * close, no exit handlers); every committed row must be there on reopen. */
Test(store, committed_rows_survive_sigkill)
{
	enum { N = 200 };
	int status = 0;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		osh_store *st = NULL;
		char id[32];

		if (osh_store_open(dbpath, &st, NULL) != OSH_STORE_OK)
			_exit(2);
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "id-%03d", i);
			osh_object *o = mk(id, "default", id, id, strlen(id), "k=v", NULL);
			if (osh_store_insert(st, o) != OSH_STORE_OK)
				_exit(3);
			if (i % 2 == 0 && osh_store_update(st, o, 1) != OSH_STORE_OK)
				_exit(4);
			osh_object_free(o);
		}
		if (osh_store_meta_set(st, "last", "written") != OSH_STORE_OK)
			_exit(5);
		kill(getpid(), SIGKILL);
		_exit(6);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);

	osh_store *st = open_store();
	osh_object **v = NULL;
	size_t n = 0;
	char *val = NULL;
	cr_assert_eq(osh_store_list(st, "sandbox", "default", NULL, 0, 0, 0, &v, &n), OSH_STORE_OK);
	cr_assert_eq(n, N);
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "id-%03zu", i);
		cr_assert_str_eq(v[i]->id, id);
		cr_assert_eq(v[i]->resource_version, i % 2 == 0 ? 2u : 1u);
		cr_assert_eq(v[i]->payload_len, strlen(id));
		osh_object *got = NULL;
		cr_assert_eq(osh_store_get(st, id, &got), OSH_STORE_OK);
		cr_assert_eq(got->n_labels, 1);
		osh_object_free(got);
	}
	osh_object_array_free(v, n);
	cr_assert_eq(osh_store_meta_get(st, "last", &val), OSH_STORE_OK);
	free(val);
	osh_store_close(st);
}

struct thr_arg {
	osh_store *st;
	int t;
	int failures;
};

static void *thr_insert(void *p)
{
	struct thr_arg *a = p;
	char id[32];

	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "t%d-%02d", a->t, i);
		osh_object *o = mk(id, "default", id, "x", 1, "t=x", NULL);
		osh_object *g = NULL;
		if (osh_store_insert(a->st, o) != OSH_STORE_OK ||
		    osh_store_update(a->st, o, 1) != OSH_STORE_OK ||
		    osh_store_get(a->st, id, &g) != OSH_STORE_OK || g->resource_version != 2)
			a->failures++;
		osh_object_free(g);
		osh_object_free(o);
	}
	return NULL;
}

Test(store, concurrent_threads)
{
	osh_store *st = open_store();
	pthread_t th[4];
	struct thr_arg args[4];
	uint64_t cnt = 0;

	for (int t = 0; t < 4; t++) {
		args[t] = (struct thr_arg){ st, t, 0 };
		cr_assert_eq(pthread_create(&th[t], NULL, thr_insert, &args[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(args[t].failures, 0);
	}
	cr_assert_eq(osh_store_count(st, "sandbox", NULL, NULL, 0, &cnt), OSH_STORE_OK);
	cr_assert_eq(cnt, 200);
	osh_store_close(st);
}

Test(store, errmsg_is_per_store)
{
	osh_store *a = open_store();
	osh_object *g = NULL;

	cr_assert_str_eq(osh_store_errmsg(a), "");
	cr_assert_eq(osh_store_get(a, "missing", &g), OSH_STORE_NOT_FOUND);
	cr_assert(strstr(osh_store_errmsg(a), "missing"), "%s", osh_store_errmsg(a));
	cr_assert_str_eq(osh_store_errmsg(NULL), "");
	osh_store_close(a);
}
