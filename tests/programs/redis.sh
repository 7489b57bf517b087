#!/bin/sh
# A server under load on the drop-in: redis-server on 127.0.0.1 and a
# random free high port (no persistence), with libmm-malloc.so.1
# preloaded, driven by redis-benchmark (-n 20000, set/get/lpush/lpop, 20
# clients, under a time limit); then it must still answer PING and
# DBSIZE, run a scripted session of strings, big values, counters, lists,
# hashes, sets and sorted sets, and shut down cleanly.  The replies must
# be those of the same run without the drop-in.  The server is always
# killed on the way out.  LIBMM_BIG=1: 200000 requests.
set -eu
. "$srcdir/tests/programs/common.sh"

requests=20000
test "${LIBMM_BIG:-0}" = 1 && requests=200000

if test "${1:-}" = --scenario; then
	cd "$2"
	to=
	command -v timeout >/dev/null 2>&1 && to="timeout -k 5 120"
	pid=
	trap 'test -n "$pid" && kill -9 "$pid" 2>/dev/null; :' EXIT
	trap 'exit 1' HUP INT TERM

	# A free port: try random ones until a server starts on one.
	port=
	for try in 1 2 3 4 5 6 7 8 9 10; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$2" --logfile "$2/redis-$p.log" --daemonize no \
			--protected-mode yes &
		pid=$!
		i=0
		while test $i -lt 100; do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if test "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG; then
				port=$p
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
		test -n "$port" && break
		kill -9 "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
		pid=
		echo "port $p: no server (busy?): $(tail -n 1 "$2/redis-$p.log" 2>/dev/null)" >&2
	done
	test -n "$port" || { echo "could not start redis-server" >&2; exit 1; }

	$to redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 20 -q \
		-t set,get,lpush,lpop >bench.out
	tr '\r' '\n' <bench.out | grep -c 'requests per second' | sed 's/^/benchmark tests completed: /'
	tr '\r' '\n' <bench.out | grep 'requests per second' >&2

	cli() {
		$to redis-cli -h 127.0.0.1 -p "$port" "$@"
	}
	echo "PING: $(cli ping)"
	echo "DBSIZE: $(cli dbsize)"

	# a scripted session, one command a line
	awk 'BEGIN {
		for (i = 0; i < 3000; i++) printf "SET str:%d value-%d-%s\n", i, i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26)
		for (i = 0; i < 3000; i += 300) printf "GET str:%d\n", i
		printf "MGET str:1 str:2 str:3 str:nope\n"
		for (i = 0; i < 40; i++) {
			v = ""; n = 1000 * (i + 1)
			while (length(v) < n) v = v "0123456789abcdef"
			printf "SET big:%d %s\n", i, v
			printf "STRLEN big:%d\n", i
			printf "APPEND big:%d %s\n", i, substr(v, 1, 500)
		}
		for (i = 0; i < 40; i += 2) printf "DEL big:%d\n", i
		for (i = 0; i < 1000; i++) printf "INCRBY counter:%d %d\n", i % 10, i
		for (i = 0; i < 2000; i++) printf "RPUSH list:%d item-%d\n", i % 5, i
		printf "LRANGE list:3 0 20\nLLEN list:0\nLTRIM list:1 10 100\nLLEN list:1\n"
		for (i = 0; i < 1500; i++) printf "HSET hash:%d field%d %d\n", i % 3, i, i * i
		printf "HLEN hash:0\nHGET hash:2 field1499\nHINCRBY hash:1 field1 5\n"
		for (i = 0; i < 1000; i++) printf "SADD set:%d member%d\n", i % 4, i % 333
		printf "SCARD set:0\nSINTERCARD 2 set:0 set:1\nSORT set:2 ALPHA LIMIT 0 10\n"
		for (i = 0; i < 2000; i++) printf "ZADD zset %d m%d\n", (i * 7919) % 10007, i
		printf "ZCARD zset\nZRANGE zset 0 9 WITHSCORES\nZRANK zset m42\nZREMRANGEBYRANK zset 0 999\nZCARD zset\n"
		for (i = 0; i < 3000; i += 3) printf "DEL str:%d\n", i
		printf "DBSIZE\n"
	}' >session.txt
	cli <session.txt | cksum | sed 's/^/session replies: /'
	cli <session.txt >session.out
	sed -n '3001,3012p;$p' session.out
	echo "DBSIZE: $(cli dbsize)"
	echo "PING: $(cli ping)"
	cli shutdown nosave >/dev/null 2>&1 || :
	status=0
	wait "$pid" || status=$?
	pid=
	echo "server exit status: $status"
	exit 0
fi

require_cmd redis-server redis-server
require_cmd redis-cli redis-tools
require_cmd redis-benchmark redis-tools
find_dropin
new_scratch
echo "$(redis-server --version | cut -d' ' -f1-3), $requests requests"
run_twice
sed 's/^/  /' "$scratch/dropin.out"
grep 'requests per second' "$scratch/dropin.err" | sed 's/^/  with libmm: /'
