/* validate.h - request validation for the public gateway API (BEHAVIOR 1.7, 1.8):
 * sandbox and workspace names, CreateSandbox size/format limits, labels,
 * annotations, label selectors, plus name and UUID generation.
 *
 * Every function is pure and thread-safe. Validators return OPENSHELL_STATUS_OK
 * or a gRPC status code (OPENSHELL_STATUS_*) and write a whole-sentence message
 * naming the offending field into err (always NUL-terminated when errlen > 0;
 * err may be NULL when errlen is 0). Messages never contain map values or
 * environment values, only keys (escaped and shortened).
 */
#ifndef OSH_GATEWAY_VALIDATE_H
#define OSH_GATEWAY_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "openshell.pb-c.h"

/* Limits of BEHAVIOR 1.8. */
#define OSH_MAX_SANDBOX_NAME_LEN 19
#define OSH_MAX_WORKSPACE_LEN 63
#define OSH_MAX_PROVIDERS 32
#define OSH_MAX_LOG_LEVEL_LEN 32
#define OSH_MAX_MAP_ENTRIES 128
#define OSH_MAX_MAP_KEY_LEN 256
#define OSH_MAX_MAP_VALUE_LEN 8192
#define OSH_MAX_TEMPLATE_STRING_LEN 1024
#define OSH_MAX_TEMPLATE_STRUCT_SIZE 65536
#define OSH_MAX_POLICY_SIZE 262144
#define OSH_MAX_ENV_TOTAL_SIZE (256 * 1024)
#define OSH_MAX_COMMAND_ARGS 256
#define OSH_MAX_COMMAND_TOTAL_SIZE (256 * 1024)
#define OSH_MAX_COMMAND_ARG_LEN (32 * 1024)
#define OSH_MAX_LABEL_KEY_LEN 253
#define OSH_MAX_LABEL_NAME_LEN 63
#define OSH_MAX_LABEL_VALUE_LEN 63
#define OSH_MAX_SELECTOR_PAIRS 64

/* Sandbox name: non-empty (empty -> "name is required"), <= 19 bytes,
 * DNS-1123 label ([a-z0-9-], no leading/trailing '-'), no "--". */
int osh_validate_sandbox_name(const char *name, char *err, size_t errlen);

/* Workspace name: empty is OK (means "default"); otherwise DNS-1123 label,
 * <= 63 bytes, no "--" (same rules as sandbox names). */
int osh_validate_workspace(const char *ws, char *err, size_t errlen);

/* Everything of BEHAVIOR 1.7 steps 1, 3, 4 and 1.8 with the section 0
 * adaptations, in this order: spec required; name (when non-empty); spec
 * (providers count, log_level, spec.environment, template strings/maps/structs,
 * template environment, gpu count, command, policy size); request labels
 * (<= 128 entries, label key and value rules); request annotations (<= 128
 * entries, label-key rules, value <= 8192); workspace; and finally non-empty
 * providers -> FAILED_PRECONDITION "providers are not supported".
 * Everything else is INVALID_ARGUMENT. req == NULL is INVALID_ARGUMENT. */
int osh_validate_create_request(const Openshell__V1__CreateSandboxRequest *req, char *err,
				size_t errlen);

/* Label key (BEHAVIOR 1.8): non-empty, <= 253 bytes, optional "prefix/" (the
 * first '/' splits); name part 1..63 bytes of [A-Za-z0-9._-] starting and
 * ending alphanumeric; prefix <= 253 bytes of [a-z0-9.-], not starting/ending
 * with '-' or '.', no "..". "Alphanumeric" is ASCII only here; upstream
 * accepts any Unicode alphanumeric, so we are deliberately stricter. */
int osh_validate_label_key(const char *k, char *err, size_t errlen);

/* Label value: empty OK; <= 63 bytes of [A-Za-z0-9._-], starting and ending
 * alphanumeric (ASCII, see above). */
int osh_validate_label_value(const char *v, char *err, size_t errlen);

/* Parse a label selector "k=v[,k=v...]". Pairs and their keys/values are
 * trimmed of ASCII whitespace; blank pairs are skipped; each pair needs '=';
 * key non-empty; key and value pass the label rules; at most 64 pairs. NULL or
 * blank selector is OK with *n = 0 (and *keys and *values NULL).
 * On OK, *keys and *values are malloc'd arrays of *n malloc'd strings, freed
 * with osh_label_selector_free(). On error nothing is allocated and the
 * outputs are set to NULL/0. */
int osh_parse_label_selector(const char *sel, char ***keys, char ***values, size_t *n,
			     char *err, size_t errlen);
/* Accepts NULL arrays. */
void osh_label_selector_free(char **keys, char **values, size_t n);

/* A generated sandbox name: two random lowercase words joined by '-', always a
 * valid sandbox name (<= 19 bytes, no trailing '-'). Uses getrandom(). */
void osh_generate_name(char out[20]);

/* A random UUIDv4, lowercase, "xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx". */
void osh_generate_uuid(char out[37]);

/* Scan the protobuf wire bytes of a message of type desc for string fields
 * (at any depth, including map keys/values and repeated strings) that contain
 * a NUL byte. Needed because protobuf-c unpacks strings as C strings: an
 * embedded NUL silently truncates the value, so the "no NUL" rules of 1.8 can
 * only be enforced on the raw request bytes. Call it before unpacking.
 * Returns OK, or INVALID_ARGUMENT naming the field, e.g.
 * `spec.command[1] contains a NUL byte`, `spec.environment["FOO"] contains a
 * NUL byte`. Malformed input is INVALID_ARGUMENT
 * "request could not be decoded". Unknown fields are not inspected. */
int osh_validate_wire_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			      size_t len, char *err, size_t errlen);

#endif
