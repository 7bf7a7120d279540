/* engine_http.c - HTTP/1.1 over an engine's Unix socket with libcurl: unary
 * requests (a small pool of easy handles keeps connections open), streams of
 * newline-delimited JSON objects on a multi handle (so a wait can be cut
 * short by a wakeup or a cancel), API version negotiation, escaping. */
#include "config.h"

#include "engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENG_POOL_MAX	       8
#define ENG_BODY_MAX	       (64u << 20)
#define ENG_CONNECT_TIMEOUT_MS 10000L
#define ENG_DEFAULT_TIMEOUT_MS 60000L
#define ENG_HEADERS_TIMEOUT_MS 10000L
#define ENG_POLL_SLICE_MS      250L

struct osh_engine {
	char *socket;
	char *where; /* unix://<socket> */
	char *kind;
	pthread_mutex_t mu; /* prefix and pool */
	char prefix[64];
	CURL *pool[ENG_POOL_MAX];
	int npool;
	atomic_int cancelled;
};

struct eng_buf {
	char *p;
	size_t len, cap;
	int overflow;
};

struct osh_engine_stream {
	osh_engine *e;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct eng_buf buf;
	size_t start;	  /* first unread byte of buf */
	long status;	  /* of the last complete header block */
	int headers_done; /* a final (non-1xx) header block arrived */
	int done;	  /* the transfer finished */
	CURLcode result;
	int64_t last_data_ms;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t eng_curl_once = PTHREAD_ONCE_INIT;

static void eng_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t eng_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *eng_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

osh_engine *osh_engine_new(const char *socket_path, const char *kind)
{
	pthread_once(&eng_curl_once, eng_curl_init);
	osh_engine *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->socket = eng_strdup(socket_path);
	e->kind = eng_strdup(kind && *kind ? kind : "engine");
	size_t n = strlen(e->socket) + sizeof("unix://");
	e->where = malloc(n);
	if (!e->where)
		abort();
	snprintf(e->where, n, "unix://%s", e->socket);
	pthread_mutex_init(&e->mu, NULL);
	atomic_init(&e->cancelled, 0);
	return e;
}

void osh_engine_free(osh_engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->npool; i++)
		curl_easy_cleanup(e->pool[i]);
	pthread_mutex_destroy(&e->mu);
	free(e->socket);
	free(e->where);
	free(e->kind);
	free(e);
}

const char *osh_engine_where(const osh_engine *e)
{
	return e->where;
}

const char *osh_engine_socket(const osh_engine *e)
{
	return e->socket;
}

void osh_engine_set_prefix(osh_engine *e, const char *prefix)
{
	pthread_mutex_lock(&e->mu);
	snprintf(e->prefix, sizeof(e->prefix), "%s", prefix ? prefix : "");
	pthread_mutex_unlock(&e->mu);
}

const char *osh_engine_prefix(const osh_engine *e)
{
	return e->prefix;
}

void osh_engine_cancel_all(osh_engine *e)
{
	atomic_store(&e->cancelled, 1);
}

void osh_engine_resp_clear(osh_engine_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
	r->status = 0;
}

json_t *osh_engine_resp_json(const osh_engine_resp *r)
{
	if (!r || !r->body || !r->len)
		return NULL;
	return json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
}

/* Copies s into buf, trimmed, without control characters, at most max. */
static void eng_clean_copy(char *buf, size_t len, const char *s, size_t n, size_t max)
{
	while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		n--;
	if (n > max)
		n = max;
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < len; i++)
		buf[o++] = ((unsigned char)s[i] < 0x20) ? ' ' : s[i];
	if (len)
		buf[o] = '\0';
}

const char *osh_engine_resp_error(const osh_engine_resp *r, char *buf, size_t len)
{
	json_t *j = osh_engine_resp_json(r);
	const char *m = j ? osh_json_str(j, "message") : "";
	if (*m)
		eng_clean_copy(buf, len, m, strlen(m), 400);
	else if (r && r->body && r->len)
		eng_clean_copy(buf, len, r->body, r->len, 400);
	else
		snprintf(buf, len, "HTTP %ld", r ? r->status : 0L);
	if (!*buf)
		snprintf(buf, len, "HTTP %ld", r ? r->status : 0L);
	json_decref(j);
	return buf;
}

/* ---- easy handle setup -------------------------------------------------- */

static size_t eng_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct eng_buf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n + 1 > ENG_BODY_MAX) {
		b->overflow = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int eng_xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	osh_engine *e = ud;
	return atomic_load(&e->cancelled) ? 1 : 0;
}

static char *eng_url(osh_engine *e, const char *path, int raw)
{
	pthread_mutex_lock(&e->mu);
	size_t n = strlen("http://localhost") + strlen(e->prefix) + strlen(path) + 1;
	char *u = malloc(n);
	if (!u)
		abort();
	snprintf(u, n, "http://localhost%s%s", raw ? "" : e->prefix, path);
	pthread_mutex_unlock(&e->mu);
	return u;
}

/* Common options. *body_copy and *headers are owned by the caller after. */
static void eng_setup(osh_engine *e, CURL *h, const char *method, const char *url,
		      const json_t *body, char **body_copy, struct curl_slist **headers,
		      char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->socket);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ENG_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, eng_xferinfo);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, e);
	*headers = curl_slist_append(NULL, "Expect:");
	*body_copy = NULL;
	if (body) {
		*body_copy = json_dumps(body, JSON_COMPACT);
		if (!*body_copy)
			abort();
		*headers = curl_slist_append(*headers, "Content-Type: application/json");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
				 (long)(*body_copy ? strlen(*body_copy) : 0));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, *body_copy ? *body_copy : "");
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (*body_copy) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(*body_copy));
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, *body_copy);
		}
	}
}

/* A sentence about a failed transfer. */
static void eng_transport_error(osh_engine *e, CURL *h, CURLcode rc, const char *errbuf,
				long timeout_ms, char *err, size_t errlen)
{
	long os_errno = 0;
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	if (atomic_load(&e->cancelled) && rc == CURLE_ABORTED_BY_CALLBACK)
		snprintf(err, errlen, "the request to the %s daemon at %s was cancelled", e->kind,
			 e->where);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(err, errlen, "the %s daemon at %s did not answer within %ld ms", e->kind,
			 e->where, timeout_ms);
	else if (rc == CURLE_COULDNT_CONNECT && os_errno)
		snprintf(err, errlen, "cannot reach the %s daemon at %s: %s", e->kind, e->where,
			 strerror((int)os_errno));
	else
		snprintf(err, errlen, "cannot reach the %s daemon at %s: %s", e->kind, e->where,
			 errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

static CURL *eng_take(osh_engine *e)
{
	CURL *h = NULL;
	pthread_mutex_lock(&e->mu);
	if (e->npool)
		h = e->pool[--e->npool];
	pthread_mutex_unlock(&e->mu);
	if (h)
		curl_easy_reset(h);
	else if (!(h = curl_easy_init()))
		abort();
	return h;
}

static void eng_give(osh_engine *e, CURL *h)
{
	pthread_mutex_lock(&e->mu);
	if (e->npool < ENG_POOL_MAX) {
		e->pool[e->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&e->mu);
	if (h)
		curl_easy_cleanup(h);
}

static int eng_request(osh_engine *e, const char *method, const char *path, int raw,
		       const json_t *body, long timeout_ms, osh_engine_resp *out, char *err,
		       size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct eng_buf b = { 0 };
	char *body_copy = NULL;
	struct curl_slist *headers = NULL;
	memset(out, 0, sizeof(*out));
	if (timeout_ms <= 0)
		timeout_ms = ENG_DEFAULT_TIMEOUT_MS;
	if (atomic_load(&e->cancelled)) {
		snprintf(err, errlen, "the request to the %s daemon at %s was cancelled", e->kind,
			 e->where);
		return -1;
	}
	char *url = eng_url(e, path, raw);
	CURL *h = eng_take(e);
	eng_setup(e, h, method, url, body, &body_copy, &headers, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, eng_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(h);
	int ret = 0;
	if (rc != CURLE_OK) {
		if (b.overflow)
			snprintf(err, errlen,
				 "the %s daemon at %s sent a response larger than %u bytes",
				 e->kind, e->where, ENG_BODY_MAX);
		else
			eng_transport_error(e, h, rc, errbuf, timeout_ms, err, errlen);
		free(b.p);
		ret = -1;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = b.p ? b.p : eng_strdup("");
		out->len = b.len;
	}
	/* A handle whose transfer failed may hold a broken connection. */
	if (rc == CURLE_OK)
		eng_give(e, h);
	else
		curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(body_copy);
	free(url);
	return ret;
}

int osh_engine_request(osh_engine *e, const char *method, const char *path, const json_t *body,
		       long timeout_ms, osh_engine_resp *out, char *err, size_t errlen)
{
	return eng_request(e, method, path, 0, body, timeout_ms, out, err, errlen);
}

int osh_engine_api_number(const char *v)
{
	int major, minor, n = 0;
	if (!v || sscanf(v, "%d.%d%n", &major, &minor, &n) != 2 || v[n] || major < 0 || minor < 0 ||
	    minor > 999 || major > 1000)
		return -1;
	return major * 1000 + minor;
}

int osh_engine_negotiate(osh_engine *e, const char *min_api, const char *max_api, char *version,
			 size_t version_len, char *err, size_t errlen)
{
	osh_engine_resp r;
	if (eng_request(e, "GET", "/version", 1, NULL, 15000, &r, err, errlen) != 0)
		return -1;
	json_t *j = osh_engine_resp_json(&r);
	const char *api = j ? osh_json_str(j, "ApiVersion") : "";
	int have = osh_engine_api_number(api);
	int ret = -1;
	if (r.status != 200 || have < 0) {
		char m[512];
		snprintf(err, errlen,
			 "the %s daemon at %s did not report its API version (GET /version: %s)",
			 e->kind, e->where,
			 r.status != 200 ? osh_engine_resp_error(&r, m, sizeof(m))
					 : "no ApiVersion");
		goto cleanup;
	}
	if (min_api && have < osh_engine_api_number(min_api)) {
		snprintf(err, errlen,
			 "the %s daemon at %s speaks API %s, older than the oldest supported (%s)",
			 e->kind, e->where, api, min_api);
		goto cleanup;
	}
	int use = have;
	if (max_api && osh_engine_api_number(max_api) >= 0 && use > osh_engine_api_number(max_api))
		use = osh_engine_api_number(max_api);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "/v%d.%d", use / 1000, use % 1000);
	osh_engine_set_prefix(e, prefix);
	if (version)
		snprintf(version, version_len, "%s", osh_json_str(j, "Version"));
	ret = 0;
cleanup:
	json_decref(j);
	osh_engine_resp_clear(&r);
	return ret;
}

/* ---- streams ------------------------------------------------------------ */

static size_t eng_stream_write(char *data, size_t size, size_t nmemb, void *ud)
{
	osh_engine_stream *s = ud;
	s->last_data_ms = eng_now_ms();
	/* Compact before growing: the reader moves start forward. */
	if (s->start && s->start == s->buf.len) {
		s->buf.len = 0;
		s->start = 0;
	} else if (s->start > 65536 && s->start * 2 > s->buf.len) {
		memmove(s->buf.p, s->buf.p + s->start, s->buf.len - s->start);
		s->buf.len -= s->start;
		s->start = 0;
	}
	return eng_write(data, size, nmemb, &s->buf);
}

static size_t eng_stream_header(char *data, size_t size, size_t nmemb, void *ud)
{
	osh_engine_stream *s = ud;
	size_t n = size * nmemb;
	int code;
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', n);
		if (sp && sscanf(sp, " %d", &code) == 1)
			s->status = code;
	} else if ((n == 2 && data[0] == '\r' && data[1] == '\n') || (n == 1 && data[0] == '\n')) {
		if (s->status >= 200)
			s->headers_done = 1;
	}
	return n;
}

/* One round: wait up to wait_ms for socket activity, then move data. */
static void eng_stream_pump(osh_engine_stream *s, long wait_ms)
{
	int running = 0;
	if (s->done)
		return;
	if (wait_ms > 0)
		curl_multi_poll(s->multi, NULL, 0, (int)wait_ms, NULL);
	curl_multi_perform(s->multi, &running);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy) {
			s->done = 1;
			s->result = m->data.result;
		}
}

void osh_engine_stream_close(osh_engine_stream *s)
{
	if (!s)
		return;
	if (s->multi && s->easy)
		curl_multi_remove_handle(s->multi, s->easy);
	if (s->easy)
		curl_easy_cleanup(s->easy);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->headers);
	free(s->body);
	free(s->buf.p);
	free(s);
}

osh_engine_stream *osh_engine_stream_open(osh_engine *e, const char *method, const char *path,
					  const json_t *body, long *status, char *err,
					  size_t errlen)
{
	*status = 0;
	if (atomic_load(&e->cancelled)) {
		snprintf(err, errlen, "the request to the %s daemon at %s was cancelled", e->kind,
			 e->where);
		return NULL;
	}
	osh_engine_stream *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->e = e;
	s->multi = curl_multi_init();
	s->easy = curl_easy_init();
	if (!s->multi || !s->easy)
		abort();
	char *url = eng_url(e, path, 0);
	eng_setup(e, s->easy, method, url, body, &s->body, &s->headers, s->errbuf);
	free(url);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, eng_stream_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, eng_stream_header);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	curl_multi_add_handle(s->multi, s->easy);
	s->last_data_ms = eng_now_ms();

	int64_t deadline = eng_now_ms() + ENG_HEADERS_TIMEOUT_MS;
	while (!s->headers_done && !s->done && eng_now_ms() < deadline &&
	       !atomic_load(&e->cancelled))
		eng_stream_pump(s, 50);
	if (s->headers_done && s->status >= 200 && s->status < 300) {
		*status = s->status;
		return s;
	}
	if (s->done && s->result != CURLE_OK) {
		eng_transport_error(e, s->easy, s->result, s->errbuf, ENG_HEADERS_TIMEOUT_MS, err,
				    errlen);
	} else if (!s->headers_done) {
		if (atomic_load(&e->cancelled))
			snprintf(err, errlen, "the request to the %s daemon at %s was cancelled",
				 e->kind, e->where);
		else
			snprintf(err, errlen, "the %s daemon at %s did not answer within %ld ms",
				 e->kind, e->where, ENG_HEADERS_TIMEOUT_MS);
	} else {
		/* An error status: read the (short) body for the message. */
		deadline = eng_now_ms() + ENG_HEADERS_TIMEOUT_MS;
		while (!s->done && eng_now_ms() < deadline && !atomic_load(&e->cancelled))
			eng_stream_pump(s, 50);
		osh_engine_resp r = { .status = s->status, .body = s->buf.p, .len = s->buf.len };
		*status = s->status;
		osh_engine_resp_error(&r, err, errlen);
	}
	osh_engine_stream_close(s);
	return NULL;
}

/* The next complete line holding a JSON object, or NULL. */
static json_t *eng_stream_take(osh_engine_stream *s, int final)
{
	while (s->start < s->buf.len) {
		char *base = s->buf.p + s->start;
		size_t avail = s->buf.len - s->start;
		char *nl = memchr(base, '\n', avail);
		size_t n;
		if (nl) {
			n = (size_t)(nl - base);
			s->start += n + 1;
		} else if (final) {
			n = avail;
			s->start = s->buf.len;
		} else {
			return NULL;
		}
		while (n && (base[n - 1] == '\r' || base[n - 1] == ' '))
			n--;
		if (!n)
			continue;
		json_t *j = json_loadb(base, n, 0, NULL);
		if (j && json_is_object(j))
			return j;
		json_decref(j);
	}
	return NULL;
}

int osh_engine_stream_next(osh_engine_stream *s, long wait_ms, json_t **obj, char *err,
			   size_t errlen)
{
	*obj = NULL;
	if (atomic_load(&s->e->cancelled)) {
		snprintf(err, errlen, "the stream from the %s daemon at %s was cancelled",
			 s->e->kind, s->e->where);
		return OSH_ENGINE_STREAM_ERROR;
	}
	if ((*obj = eng_stream_take(s, 0)))
		return OSH_ENGINE_STREAM_OBJECT;
	if (!s->done) {
		eng_stream_pump(s, wait_ms > ENG_POLL_SLICE_MS ? ENG_POLL_SLICE_MS : wait_ms);
		if ((*obj = eng_stream_take(s, 0)))
			return OSH_ENGINE_STREAM_OBJECT;
	}
	if (!s->done)
		return OSH_ENGINE_STREAM_IDLE;
	if ((*obj = eng_stream_take(s, 1)))
		return OSH_ENGINE_STREAM_OBJECT;
	if (s->result == CURLE_OK)
		return OSH_ENGINE_STREAM_END;
	if (s->result == CURLE_PARTIAL_FILE || s->result == CURLE_RECV_ERROR ||
	    s->result == CURLE_GOT_NOTHING)
		snprintf(err, errlen, "the %s daemon at %s closed the stream (%s)", s->e->kind,
			 s->e->where, *s->errbuf ? s->errbuf : curl_easy_strerror(s->result));
	else
		eng_transport_error(s->e, s->easy, s->result, s->errbuf, 0, err, errlen);
	return OSH_ENGINE_STREAM_ERROR;
}

void osh_engine_stream_wake(osh_engine_stream *s)
{
	if (s && s->multi)
		curl_multi_wakeup(s->multi);
}

int64_t osh_engine_stream_idle_ms(const osh_engine_stream *s)
{
	return eng_now_ms() - s->last_data_ms;
}

int osh_engine_stream_each(osh_engine *e, const char *method, const char *path, const json_t *body,
			   int (*on_object)(void *ctx, json_t *obj), int (*cancelled)(void *ctx),
			   void *ctx, long idle_timeout_ms, long *status, char *err, size_t errlen)
{
	osh_engine_stream *s = osh_engine_stream_open(e, method, path, body, status, err, errlen);
	if (!s)
		return -1;
	int ret = 0;
	for (;;) {
		if (cancelled && cancelled(ctx)) {
			ret = 1;
			break;
		}
		json_t *obj = NULL;
		int r = osh_engine_stream_next(s, ENG_POLL_SLICE_MS, &obj, err, errlen);
		if (r == OSH_ENGINE_STREAM_OBJECT) {
			int stop = on_object(ctx, obj);
			json_decref(obj);
			if (stop)
				break;
		} else if (r == OSH_ENGINE_STREAM_END) {
			break;
		} else if (r == OSH_ENGINE_STREAM_ERROR) {
			ret = -1;
			break;
		} else if (idle_timeout_ms > 0 && osh_engine_stream_idle_ms(s) > idle_timeout_ms) {
			snprintf(err, errlen, "the %s daemon at %s sent nothing for %ld ms",
				 e->kind, e->where, idle_timeout_ms);
			ret = -1;
			break;
		}
	}
	osh_engine_stream_close(s);
	return ret;
}

/* ---- escaping ----------------------------------------------------------- */

char *osh_engine_escape(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s ? s : "");
	char *out = malloc(n * 3 + 1), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' ||
		    (keep_slash && (c == '/' || c == ':'))) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

char *osh_engine_label_filter(const char *const *labels, const char *extra_key,
			      const char *extra_value)
{
	json_t *f = json_object(), *l = json_array();
	for (size_t i = 0; labels && labels[i]; i++)
		json_array_append_new(l, json_string(labels[i]));
	json_object_set_new(f, "label", l);
	if (extra_key && extra_value) {
		json_t *x = json_array();
		json_array_append_new(x, json_string(extra_value));
		json_object_set_new(f, extra_key, x);
	}
	char *text = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(f);
	if (!text)
		abort();
	char *esc = osh_engine_escape(text, 0);
	free(text);
	return esc;
}
