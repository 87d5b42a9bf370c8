#!/usr/bin/env bash
# plugin_exports.sh PLUGIN - libportreeve.so exports exactly
# sasl_auxprop_plug_init, links no log_* code, and needs no symbol that
# libsasl2/libc do not provide.
set -euo pipefail
so=$1
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBVWRi]$/ { print $3 }' | sort | tr '\n' ' ')
if [ "$exported" != "sasl_auxprop_plug_init " ]; then
    echo "got exports '$exported', want 'sasl_auxprop_plug_init '"
    exit 1
fi
if nm "$so" 2>/dev/null | grep -Eq ' (log_msg|log_vmsg|log_open|syslog|exit|abort)$'; then
    echo "got $(nm "$so" | grep -E ' (log_msg|log_vmsg|log_open|syslog|exit|abort)$' | tr '\n' ' '), want no logging/exit symbols"
    exit 1
fi
undefined=$(nm -D --undefined-only "$so" | awk '{ print $2 }' | grep -Ev '^(__|_ITM|_Jv)' |
    grep -Ev '^(memcpy|memset|memchr|memcmp|strlen|strcasecmp|strncasecmp|strtol|strspn|strcspn|snprintf|socket|connect|send|recv|poll|close|clock_gettime|__errno_location|__stack_chk_fail|__memcpy_chk|__snprintf_chk|explicit_bzero)(@.*)?$' || true)
if [ -n "$undefined" ]; then
    echo "got unexpected undefined symbols: $(echo $undefined), want only libc basics"
    exit 1
fi
echo "ok: exports only sasl_auxprop_plug_init"
