/* podman_libpod.c - the podman plugin's calls to the libpod REST API that
 * several RPCs share: version negotiation, container lookup by label,
 * inspect, and the HTTP status -> gRPC code mapping. */
#include "config.h"

#include "podman.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int32_t podman_code_for_http(long status)
{
	switch (status) {
	case 400:
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	case 404:
		return OPENSHELL_STATUS_NOT_FOUND;
	case 409:
		return OPENSHELL_STATUS_ALREADY_EXISTS;
	case 0:
		return OPENSHELL_STATUS_UNAVAILABLE;
	default:
		return OPENSHELL_STATUS_INTERNAL;
	}
}

/* The libpod API version of a GET /version answer: the "Podman Engine"
 * component's Details.APIVersion (and MinAPIVersion); "" when absent (not
 * a Podman service). */
static void podman_versions(const json_t *v, const char **api, const char **min,
			    const char **version)
{
	*api = *min = *version = "";
	json_t *comps = json_object_get(v, "Components");
	size_t i;
	json_t *c;
	json_array_foreach(comps, i, c)
	{
		if (strcmp(osh_json_str(c, "Name"), "Podman Engine") != 0)
			continue;
		json_t *d = json_object_get(c, "Details");
		*api = osh_json_str(d, "APIVersion");
		*min = osh_json_str(d, "MinAPIVersion");
		*version = osh_json_str(c, "Version");
		return;
	}
}

/* "4.3.1" -> 4003 (major.minor; the patch level does not matter). */
static int podman_api_number(const char *v)
{
	int major, minor;
	if (sscanf(v, "%d.%d", &major, &minor) != 2 || major < 0 || minor < 0 || minor > 999)
		return -1;
	return major * 1000 + minor;
}

int32_t podman_ready(podman *p, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	json_t *j = NULL;
	int32_t rc = OPENSHELL_STATUS_OK;

	pthread_mutex_lock(&p->mu);
	if (p->negotiated)
		goto cleanup;
	/* Unversioned: the prefix is still "". */
	if (osh_engine_request(p->eng, "GET", "/version", NULL, 15000, &r, err, errlen) != 0) {
		rc = OPENSHELL_STATUS_UNAVAILABLE;
		goto cleanup;
	}
	j = osh_engine_resp_json(&r);
	const char *api, *min, *version;
	podman_versions(j, &api, &min, &version);
	if (r.status != 200 || !*api) {
		char m[512];
		snprintf(err, errlen,
			 "the service at %s is not a Podman service (GET /version: %s)",
			 osh_engine_where(p->eng),
			 r.status != 200 ? osh_engine_resp_error(&r, m, sizeof(m))
					 : "no \"Podman Engine\" component");
		rc = OPENSHELL_STATUS_FAILED_PRECONDITION;
		goto cleanup;
	}
	int have = podman_api_number(api), oldest = *min ? podman_api_number(min) : -1;
	if (have < PODMAN_API_MIN || oldest > PODMAN_API_MIN) {
		snprintf(err, errlen,
			 "the Podman service at %s speaks libpod API %s (oldest %s); this plugin "
			 "needs %s",
			 osh_engine_where(p->eng), api, *min ? min : "?", PODMAN_API_PREFIX + 2);
		rc = OPENSHELL_STATUS_FAILED_PRECONDITION;
		goto cleanup;
	}
	osh_engine_set_prefix(p->eng, PODMAN_API_PREFIX);
	snprintf(p->version, sizeof(p->version), "%s", *version ? version : api);
	p->negotiated = 1;
	osh_engine_log(&p->host, OPENSHELL_LOG_INFO,
		       PODMAN_NAME ": Podman %s at %s (libpod API %s), using %s", p->version,
		       osh_engine_where(p->eng), api, PODMAN_API_PREFIX);
cleanup:
	pthread_mutex_unlock(&p->mu);
	json_decref(j);
	osh_engine_resp_clear(&r);
	return rc;
}

int32_t podman_list(podman *p, const char *id, const char *name, json_t **out, char *err,
		    size_t errlen)
{
	char *labels[4] = {NULL};
	size_t n = 0;
	osh_engine_resp r = {0};
	char *filter = NULL, *path = NULL;
	int32_t rc;

	*out = NULL;
	if ((rc = podman_ready(p, err, errlen)) != OPENSHELL_STATUS_OK)
		return rc;
	if (asprintf(&labels[n++], "%s=%s", OSH_LABEL_MANAGED_BY, OSH_LABEL_MANAGED_BY_VALUE) < 0)
		abort();
	if (*p->gateway_id &&
	    asprintf(&labels[n++], "%s=%s", OSH_LABEL_GATEWAY_ID, p->gateway_id) < 0)
		abort();
	if (id && *id) {
		if (asprintf(&labels[n++], "%s=%s", OSH_LABEL_SANDBOX_ID, id) < 0)
			abort();
	} else if (name && *name) {
		if (asprintf(&labels[n++], "%s=%s", OSH_LABEL_SANDBOX_NAME, name) < 0)
			abort();
	}
	filter = osh_engine_label_filter((const char *const *)labels, NULL, NULL);
	if (asprintf(&path, "/containers/json?all=true&filters=%s", filter) < 0)
		abort();
	if (osh_engine_request(p->eng, "GET", path, NULL, PODMAN_TIMEOUT_MS, &r, err, errlen) !=
	    0) {
		rc = OPENSHELL_STATUS_UNAVAILABLE;
		goto cleanup;
	}
	if (r.status != 200) {
		char m[512];
		snprintf(err, errlen, "listing containers at %s failed: %s",
			 osh_engine_where(p->eng), osh_engine_resp_error(&r, m, sizeof(m)));
		rc = podman_code_for_http(r.status);
		if (rc == OPENSHELL_STATUS_NOT_FOUND)
			rc = OPENSHELL_STATUS_INTERNAL;
		goto cleanup;
	}
	*out = osh_engine_resp_json(&r);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "listing containers at %s: the answer is not a JSON array",
			 osh_engine_where(p->eng));
		rc = OPENSHELL_STATUS_INTERNAL;
	}
cleanup:
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(filter);
	free(path);
	osh_engine_resp_clear(&r);
	return rc;
}

int32_t podman_inspect(podman *p, const char *ref, json_t **out, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	char *esc = NULL, *path = NULL;
	int32_t rc;

	*out = NULL;
	if ((rc = podman_ready(p, err, errlen)) != OPENSHELL_STATUS_OK)
		return rc;
	esc = osh_engine_escape(ref, 0);
	if (asprintf(&path, "/containers/%s/json", esc) < 0)
		abort();
	if (osh_engine_request(p->eng, "GET", path, NULL, PODMAN_TIMEOUT_MS, &r, err, errlen) !=
	    0) {
		rc = OPENSHELL_STATUS_UNAVAILABLE;
		goto cleanup;
	}
	if (r.status != 200) {
		char m[512];
		snprintf(err, errlen, "inspecting container \"%s\" failed: %s", ref,
			 osh_engine_resp_error(&r, m, sizeof(m)));
		rc = podman_code_for_http(r.status);
		goto cleanup;
	}
	if (!(*out = osh_engine_resp_json(&r)) || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "inspecting container \"%s\": the answer is not JSON", ref);
		rc = OPENSHELL_STATUS_INTERNAL;
	}
cleanup:
	free(esc);
	free(path);
	osh_engine_resp_clear(&r);
	return rc;
}

int32_t podman_find(podman *p, const char *id, const char *name, json_t **entry, char *err,
		    size_t errlen)
{
	json_t *list = NULL;
	*entry = NULL;
	int32_t rc = podman_list(p, id, name, &list, err, errlen);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;
	if (json_array_size(list) > 1 && !(id && *id)) {
		snprintf(err, errlen,
			 "%zu sandboxes are named \"%s\" (in different workspaces); give the id",
			 json_array_size(list), name ? name : "");
		json_decref(list);
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	}
	if (json_array_size(list) > 0)
		*entry = json_incref(json_array_get(list, 0));
	json_decref(list);
	return OPENSHELL_STATUS_OK;
}
