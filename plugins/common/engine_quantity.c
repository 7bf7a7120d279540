/* engine_quantity.c - Kubernetes resource quantities ("500m", "1.5Gi",
 * "1e3") as exact integers: nano-CPUs and bytes, rounded up as Kubernetes
 * rounds them. */
#include "config.h"

#include "engine.h"

#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

#define Q_MAX_DIGITS 19 /* significant digits kept: < 2^64 */

/* Parses s into value = mant * 10^e10 * 1024^e2. Returns 0, or -1 when s
 * is not a quantity or is not positive. */
static int q_parse(const char *s, uint64_t *mant, int *e10, int *e2)
{
	const char *p = s;
	uint64_t m = 0;
	int digits = 0, sig = 0, frac = 0, dropped = 0, any = 0, exp = 0;

	if (!s || !*s)
		return -1;
	if (*p == '+')
		p++;
	else if (*p == '-')
		return -1; /* negative quantities are never valid here */
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		any = 1;
		if (m == 0 && *p == '0')
			continue;
		if (sig < Q_MAX_DIGITS) {
			m = m * 10 + (uint64_t)(*p - '0');
			sig++;
		} else {
			exp++; /* an integer digit we cannot keep: scale */
			dropped |= *p != '0';
		}
	}
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++) {
			any = 1;
			if (m == 0 && *p == '0') {
				frac++;
				continue;
			}
			if (sig < Q_MAX_DIGITS) {
				m = m * 10 + (uint64_t)(*p - '0');
				sig++;
				frac++;
			} else {
				dropped |= *p != '0';
			}
		}
	}
	if (!any)
		return -1;
	(void)digits;
	if (dropped)
		m++; /* round up what we could not keep */

	int x10 = 0, x2 = 0;
	if ((*p == 'e' || *p == 'E') &&
	    ((p[1] >= '0' && p[1] <= '9') ||
	     ((p[1] == '+' || p[1] == '-') && p[2] >= '0' && p[2] <= '9'))) {
		int neg = 0, v = 0;
		p++;
		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		for (; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > 1000)
				return -1;
		}
		x10 = neg ? -v : v;
	} else if (*p) {
		static const struct {
			const char *s;
			int e10, e2;
		} sfx[] = {
			{ "Ki", 0, 1 }, { "Mi", 0, 2 }, { "Gi", 0, 3 }, { "Ti", 0, 4 },
			{ "Pi", 0, 5 }, { "Ei", 0, 6 }, { "n", -9, 0 }, { "u", -6, 0 },
			{ "m", -3, 0 }, { "k", 3, 0 },	{ "M", 6, 0 },	{ "G", 9, 0 },
			{ "T", 12, 0 }, { "P", 15, 0 }, { "E", 18, 0 },
		};
		size_t i;
		for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
			if (strcmp(p, sfx[i].s) == 0)
				break;
		if (i == sizeof(sfx) / sizeof(sfx[0]))
			return -1;
		x10 = sfx[i].e10;
		x2 = sfx[i].e2;
		p += strlen(sfx[i].s);
	}
	if (*p)
		return -1;
	if (m == 0)
		return -1;
	*mant = m;
	*e10 = exp - frac + x10;
	*e2 = x2;
	return 0;
}

/* mant * 10^e10 * 1024^e2, rounded up; -1 when it does not fit in int64 or
 * is not positive. */
static int q_value(uint64_t mant, int e10, int e2, int64_t *out)
{
	u128 v = (u128)mant;
	for (int i = 0; i < e2; i++)
		v *= 1024; /* mant < 2^64, e2 <= 6: < 2^124 */
	if (e10 >= 0) {
		for (int i = 0; i < e10; i++) {
			v *= 10;
			if (v > (u128)INT64_MAX)
				return -1;
		}
	} else if (-e10 > 38) {
		v = v ? 1 : 0;
	} else {
		u128 div = 1;
		for (int i = 0; i < -e10; i++)
			div *= 10;
		v = (v + div - 1) / div;
	}
	if (v == 0 || v > (u128)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int osh_quantity_cpu_nanos(const char *s, int64_t *out)
{
	uint64_t m;
	int e10, e2;
	if (q_parse(s, &m, &e10, &e2) != 0)
		return -1;
	return q_value(m, e10 + 9, e2, out);
}

int osh_quantity_bytes(const char *s, int64_t *out)
{
	uint64_t m;
	int e10, e2;
	if (q_parse(s, &m, &e10, &e2) != 0)
		return -1;
	return q_value(m, e10, e2, out);
}
