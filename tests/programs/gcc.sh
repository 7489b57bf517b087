#!/bin/sh
# GCC on the drop-in: a generated C file of many functions (loops,
# switches, structs, string tables, recursion) compiled with gcc -O2 by a
# driver, cc1, as and ld all running on libmm-malloc.so.1; the object's
# disassembly (objdump -d), the object itself and the linked program's
# output must be the same as without the drop-in.  LIBMM_GCC_FUNCS sets
# the number of functions (default 400; LIBMM_BIG=1: 4000).
set -eu
. "$srcdir/tests/programs/common.sh"

cc=${LIBMM_TEST_GCC:-gcc}
funcs=${LIBMM_GCC_FUNCS:-400}
test "${LIBMM_BIG:-0}" = 1 && funcs=${LIBMM_GCC_FUNCS:-4000}

if test "${1:-}" = --scenario; then
	cd "$2"
	cp "$scratch_src/big.c" big.c
	"$cc" -O2 -w -c big.c -o big.o
	if command -v objdump >/dev/null 2>&1; then
		objdump -d big.o | sed 1,2d | cksum
	fi
	cksum <big.o
	"$cc" big.o -o big
	./big
	exit 0
fi

require_cmd "$cc" gcc
find_dropin
new_scratch
scratch_src=$scratch
export scratch_src cc

# f<i>: arithmetic in a loop, a switch, a struct, a string; main calls
# them all and prints one checksum.
awk -v n="$funcs" 'BEGIN {
	print "#include <stdio.h>"
	print "#include <string.h>"
	print "struct rec { int a; long b; double c; const char *s; };"
	print "static unsigned long mix(unsigned long x) { return x * 2654435761u ^ (x >> 13); }"
	for (i = 0; i < n; i++) {
		printf "static const char *names%d[] = { \"alpha%d\", \"beta%d\", \"gamma%d\", \"delta%d\" };\n", i, i, i, i, i
		printf "unsigned long f%d(unsigned long x, int depth) {\n", i
		printf "\tstruct rec r = { %d, %dL, %d.5, names%d[x %% 4] };\n", i, i * 7, i, i
		printf "\tunsigned long acc = x ^ %d;\n", i * 31
		printf "\tfor (int k = 0; k < %d; k++) {\n", 3 + i % 13
		printf "\t\tswitch ((acc + k) %% 6) {\n"
		for (c = 0; c < 6; c++)
			printf "\t\tcase %d: acc = mix(acc + %d) + r.a * %d; break;\n", c, c * i + 1, c + 1
		printf "\t\t}\n\t\tacc += (unsigned long)strlen(r.s) * (unsigned long)(r.c * 2);\n"
		printf "\t}\n"
		if (i > 0)
			printf "\tif (depth > 0) acc ^= f%d(acc, depth - 1);\n", i - 1
		printf "\treturn acc + (unsigned long)r.b;\n}\n"
	}
	print "int main(void) {"
	print "\tunsigned long sum = 0;"
	for (i = 0; i < n; i++)
		printf "\tsum = mix(sum + f%d(%d, 2));\n", i, i
	print "\tprintf(\"checksum %lu\\n\", sum);"
	print "\treturn 0;"
	print "}"
}' >"$scratch/big.c"
echo "big.c: $funcs functions, $(wc -l <"$scratch/big.c") lines"
run_twice
sed 's/^/  /' "$scratch/dropin.out"
