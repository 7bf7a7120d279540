/* engine_json.c - small jansson helpers and google.protobuf.Struct -> JSON. */
#include "config.h"

#include "engine.h"

#include <math.h>
#include <stdarg.h>

const char *osh_json_str(const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : "";
}

json_t *osh_json_path(const json_t *obj, ...)
{
	va_list ap;
	const char *key;
	json_t *cur = (json_t *)obj;
	va_start(ap, obj);
	while (cur && (key = va_arg(ap, const char *)))
		cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
	va_end(ap);
	return cur;
}

long long osh_json_int(const json_t *obj, const char *key, long long def)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18)
			return (long long)d;
	}
	return def;
}

json_t *osh_engine_value_to_json(const Google__Protobuf__Value *v)
{
	if (!v)
		return NULL;
	switch (v->kind_case) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE: {
		double d = v->number_value;
		if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15)
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
		return json_string(v->string_value ? v->string_value : "");
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE: return json_boolean(v->bool_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
		return osh_engine_struct_to_json(v->struct_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE: {
		json_t *a = json_array();
		for (size_t i = 0; v->list_value && i < v->list_value->n_values; i++) {
			json_t *x = osh_engine_value_to_json(v->list_value->values[i]);
			json_array_append_new(a, x ? x : json_null());
		}
		return a;
	}
	default: return json_null();
	}
}

json_t *osh_engine_struct_to_json(const Google__Protobuf__Struct *s)
{
	if (!s)
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; i < s->n_fields; i++) {
		const Google__Protobuf__Struct__FieldsEntry *f = s->fields[i];
		if (!f || !f->key)
			continue;
		json_t *x = osh_engine_value_to_json(f->value);
		json_object_set_new(o, f->key, x ? x : json_null());
	}
	return o;
}
