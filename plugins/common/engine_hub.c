/* engine_hub.c - the running watch_sandboxes calls of a plugin instance:
 * events published by any thread are queued per watch and delivered by the
 * watch's own thread (see engine.h for why). */
#include "config.h"

#include "engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HUB_MAX_QUEUED 4096

struct hub_ev {
	uint8_t *buf;
	size_t len;
	struct hub_ev *next;
};

struct osh_engine_sub {
	osh_engine_hub *hub;
	openshell_watch_sink_v1 sink; /* zero-filled copy of the host's */
	pthread_mutex_t emit_mu;      /* one emit at a time for this sink */
	int stopped;		      /* emit said stop */
	/* guarded by the hub's mu */
	struct hub_ev *head, *tail;
	size_t queued;
	void (*wake)(void *);
	void *wake_arg;
	struct osh_engine_sub *next;
};

struct osh_engine_hub {
	pthread_mutex_t mu;
	osh_engine_sub *subs;
};

osh_engine_hub *osh_engine_hub_new(void)
{
	osh_engine_hub *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void osh_engine_hub_free(osh_engine_hub *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static void hub_free_list(struct hub_ev *e)
{
	while (e) {
		struct hub_ev *n = e->next;
		free(e->buf);
		free(e);
		e = n;
	}
}

osh_engine_sub *osh_engine_hub_join(osh_engine_hub *h, const openshell_watch_sink_v1 *sink)
{
	osh_engine_sub *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	size_t n = sink->struct_size < sizeof(s->sink) ? sink->struct_size : sizeof(s->sink);
	memcpy(&s->sink, sink, n);
	s->hub = h;
	pthread_mutex_init(&s->emit_mu, NULL);
	pthread_mutex_lock(&h->mu);
	s->next = h->subs;
	h->subs = s;
	pthread_mutex_unlock(&h->mu);
	return s;
}

void osh_engine_hub_leave(osh_engine_hub *h, osh_engine_sub *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&h->mu);
	for (osh_engine_sub **pp = &h->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	struct hub_ev *q = s->head;
	s->head = s->tail = NULL;
	pthread_mutex_unlock(&h->mu);
	hub_free_list(q);
	pthread_mutex_destroy(&s->emit_mu);
	free(s);
}

void osh_engine_sub_set_wake(osh_engine_hub *h, osh_engine_sub *s, void (*wake)(void *), void *arg)
{
	pthread_mutex_lock(&h->mu);
	s->wake = wake;
	s->wake_arg = arg;
	pthread_mutex_unlock(&h->mu);
}

void osh_engine_hub_publish(osh_engine_hub *h,
			    const Openshell__Compute__V1__WatchSandboxesEvent *ev)
{
	size_t n = protobuf_c_message_get_packed_size(&ev->base);
	uint8_t *packed = malloc(n ? n : 1);
	if (!packed)
		abort();
	protobuf_c_message_pack(&ev->base, packed);
	pthread_mutex_lock(&h->mu);
	for (osh_engine_sub *s = h->subs; s; s = s->next) {
		struct hub_ev *e = calloc(1, sizeof(*e));
		if (!e || !(e->buf = malloc(n ? n : 1)))
			abort();
		memcpy(e->buf, packed, n);
		e->len = n;
		if (s->tail)
			s->tail->next = e;
		else
			s->head = e;
		s->tail = e;
		if (++s->queued > HUB_MAX_QUEUED) { /* a stuck watch: drop the oldest */
			struct hub_ev *old = s->head;
			s->head = old->next;
			old->next = NULL;
			hub_free_list(old);
			s->queued--;
		}
		if (s->wake)
			s->wake(s->wake_arg);
	}
	pthread_mutex_unlock(&h->mu);
	free(packed);
}

void osh_engine_hub_publish_snapshot(osh_engine_hub *h, const osh_engine_ds *ds)
{
	Openshell__Compute__V1__WatchSandboxesSandboxEvent se =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_SANDBOX_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	se.sandbox = (osh_engine_ds *)ds;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_SANDBOX;
	ev.sandbox = &se;
	osh_engine_hub_publish(h, &ev);
}

void osh_engine_hub_publish_deleted(osh_engine_hub *h, const char *sandbox_id)
{
	Openshell__Compute__V1__WatchSandboxesDeletedEvent de =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_DELETED_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	de.sandbox_id = (char *)sandbox_id;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED;
	ev.deleted = &de;
	osh_engine_hub_publish(h, &ev);
}

void osh_engine_hub_publish_platform(osh_engine_hub *h, const char *sandbox_id, const char *source,
				     const char *type, const char *reason, const char *message,
				     const char *const *meta)
{
	Openshell__Compute__V1__DriverPlatformEvent pe =
		OPENSHELL__COMPUTE__V1__DRIVER_PLATFORM_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesPlatformEvent wpe =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_PLATFORM_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	Openshell__Compute__V1__DriverPlatformEvent__MetadataEntry entries[8], *ptrs[8];
	size_t n = 0;
	for (; meta && meta[2 * n] && meta[2 * n + 1] && n < 8; n++) {
		openshell__compute__v1__driver_platform_event__metadata_entry__init(&entries[n]);
		entries[n].key = (char *)meta[2 * n];
		entries[n].value = (char *)meta[2 * n + 1];
		ptrs[n] = &entries[n];
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pe.timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pe.source = (char *)(source ? source : "");
	pe.type = (char *)(type ? type : "");
	pe.reason = (char *)(reason ? reason : "");
	pe.message = (char *)(message ? message : "");
	pe.n_metadata = n;
	pe.metadata = n ? ptrs : NULL;
	wpe.sandbox_id = (char *)(sandbox_id ? sandbox_id : "");
	wpe.event = &pe;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_PLATFORM_EVENT;
	ev.platform_event = &wpe;
	osh_engine_hub_publish(h, &ev);
}

static int sub_emit_bytes(osh_engine_sub *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->emit_mu);
	if (!s->stopped && s->sink.emit(s->sink.sink_ctx, buf, len) != 0)
		s->stopped = 1;
	int stop = s->stopped;
	pthread_mutex_unlock(&s->emit_mu);
	return stop;
}

int osh_engine_sub_emit(osh_engine_sub *s, const Openshell__Compute__V1__WatchSandboxesEvent *ev)
{
	size_t n = protobuf_c_message_get_packed_size(&ev->base);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	protobuf_c_message_pack(&ev->base, buf);
	int stop = sub_emit_bytes(s, buf, n);
	free(buf);
	return stop;
}

int osh_engine_sub_emit_snapshot(osh_engine_sub *s, const osh_engine_ds *ds)
{
	Openshell__Compute__V1__WatchSandboxesSandboxEvent se =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_SANDBOX_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	se.sandbox = (osh_engine_ds *)ds;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_SANDBOX;
	ev.sandbox = &se;
	return osh_engine_sub_emit(s, &ev);
}

int osh_engine_sub_emit_deleted(osh_engine_sub *s, const char *sandbox_id)
{
	Openshell__Compute__V1__WatchSandboxesDeletedEvent de =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_DELETED_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	de.sandbox_id = (char *)sandbox_id;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED;
	ev.deleted = &de;
	return osh_engine_sub_emit(s, &ev);
}

int osh_engine_sub_flush(osh_engine_sub *s)
{
	pthread_mutex_lock(&s->hub->mu);
	struct hub_ev *q = s->head;
	s->head = s->tail = NULL;
	s->queued = 0;
	pthread_mutex_unlock(&s->hub->mu);
	int stop = s->stopped;
	for (struct hub_ev *e = q; e && !stop; e = e->next)
		stop = sub_emit_bytes(s, e->buf, e->len);
	hub_free_list(q);
	return stop;
}

int osh_engine_sub_cancelled(osh_engine_sub *s)
{
	if (s->stopped)
		return 1;
	return s->sink.cancelled && s->sink.cancelled(s->sink.sink_ctx) ? 1 : 0;
}
