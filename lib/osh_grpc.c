/* osh_grpc.c - byte buffers, deadlines, status names over gRPC C core. */
#include "config.h"

#include "osh_grpc.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void osh_grpc_init(void)
{
	grpc_init();
}

void osh_grpc_shutdown(void)
{
	grpc_shutdown();
}

grpc_byte_buffer *osh_bb_from_bytes(const uint8_t *data, size_t len)
{
	grpc_slice s = len ? grpc_slice_from_copied_buffer((const char *)data, len)
			   : grpc_empty_slice();
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s); /* the buffer took its own ref */
	return bb;
}

int osh_bb_to_bytes(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
	grpc_byte_buffer_reader r;
	*out = NULL;
	*len = 0;
	if (!bb)
		return 0;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return -1;
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	size_t n = GRPC_SLICE_LENGTH(s);
	if (n) {
		*out = malloc(n);
		if (!*out) {
			grpc_slice_unref(s);
			grpc_byte_buffer_reader_destroy(&r);
			return -1;
		}
		memcpy(*out, GRPC_SLICE_START_PTR(s), n);
	}
	*len = n;
	grpc_slice_unref(s);
	grpc_byte_buffer_reader_destroy(&r);
	return 0;
}

gpr_timespec osh_deadline_ms(int64_t ms)
{
	if (ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int64_t osh_deadline_left_ms(gpr_timespec deadline)
{
	if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
		return INT64_MAX;
	gpr_timespec now = gpr_now(deadline.clock_type == GPR_TIMESPAN ? GPR_CLOCK_MONOTONIC
								       : deadline.clock_type);
	if (deadline.clock_type == GPR_TIMESPAN)
		return gpr_time_to_millis(deadline) > 0 ? gpr_time_to_millis(deadline) : 0;
	gpr_timespec left = gpr_time_sub(deadline, now);
	int64_t ms = gpr_time_to_millis(left);
	return ms > 0 ? ms : 0;
}

static const char *const osh_status_names[] = {
	"OK",		"CANCELLED",	      "UNKNOWN",	     "INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",	     "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",	     "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL",	      "UNAVAILABLE",	     "DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *osh_status_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(osh_status_names) / sizeof(osh_status_names[0])))
		return "UNKNOWN";
	return osh_status_names[code];
}

int osh_status_from_name(const char *name)
{
	for (int i = 0; i < (int)(sizeof(osh_status_names) / sizeof(osh_status_names[0])); i++)
		if (strcasecmp(name, osh_status_names[i]) == 0)
			return i;
	return -1;
}
