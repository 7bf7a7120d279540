/* settings.h - gateway settings from flags, environment and the INI file.
 *
 * Precedence for every setting: flag > environment > config file > default.
 * The INI file has a [openshell.gateway] section (keys listed in README) and
 * one [openshell.drivers.<name>] section per driver whose keys are handed to
 * that driver's plugin untouched. */
#ifndef OSH_SETTINGS_H
#define OSH_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#define OSH_DEFAULT_BIND_ADDRESS "127.0.0.1"
#define OSH_DEFAULT_PORT 17670

/* One [openshell.drivers.<name>] section. */
typedef struct osh_driver_section {
	char *name; /* normalised */
	char **keys;
	char **values;
	size_t n;
} osh_driver_section;

/* One item of the drivers list: "name" or "name@/abs/path.sock". */
typedef struct osh_driver_spec {
	char *name;   /* normalised: lower-case [a-z0-9_-] */
	char *socket; /* NULL unless given with '@' */
} osh_driver_spec;

typedef struct osh_config {
	char *config_path;
	char *bind_address;
	int port;
	char *drivers; /* raw list as given */
	char *compute_driver_socket;
	char *driver_dir;
	char *log_level;
	char *db_url;
	int strict_driver_names;
	int list_drivers;
	int show_version;
	int show_help;

	osh_driver_section *sections;
	size_t n_sections;
} osh_config;

/* Parse argv + environ + the config file into cfg (zeroed by the caller).
 * Returns 0, or -1 with a whole-sentence message in err. */
int osh_config_load(osh_config *cfg, int argc, char **argv, char *err, size_t errlen);
void osh_config_free(osh_config *cfg);
void osh_config_usage(FILE *out, const char *argv0);

/* The section for a driver name, or NULL. */
const osh_driver_section *osh_config_driver_section(const osh_config *cfg, const char *name);
const char *osh_driver_section_get(const osh_driver_section *s, const char *key);
/* Set key (replacing an earlier value). Returns 0, or -1 out of memory. */
int osh_driver_section_set(osh_driver_section *s, const char *key, const char *value);
/* Free the keys, values and name; leaves s empty. */
void osh_driver_section_clear(osh_driver_section *s);

/* Normalise a driver name (trim, check [A-Za-z0-9_-], lower-case). Returns a
 * malloc'd string, or NULL with err set. */
char *osh_driver_name_normalize(const char *raw, char *err, size_t errlen);

/* Parse a comma-separated drivers list. Blank items are errors, duplicate
 * names are errors, sockets must be absolute paths. On success *out is a
 * malloc'd array of *n specs (n may be 0 for an empty/blank list). */
int osh_drivers_parse(const char *list, osh_driver_spec **out, size_t *n, char *err,
		      size_t errlen);
void osh_driver_specs_free(osh_driver_spec *v, size_t n);

#endif
