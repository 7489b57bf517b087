#!/bin/sh
# SQLite on the drop-in: the sqlite3 shell runs a generated workload --
# LIBMM_SQLITE_ROWS rows (default 100000; LIBMM_BIG=1: 1000000) made by
# recursive CTEs, indexes, joins, aggregates, window functions, JSON,
# updates, deletes, a transaction rolled back, VACUUM -- and ends with
# PRAGMA integrity_check.  Its output must be the same without and with
# libmm-malloc.so.1 preloaded, and the check must say "ok".  SQLite's
# page cache and lookaside are sized up so that it allocates a lot.
set -eu
. "$srcdir/tests/programs/common.sh"

rows=${LIBMM_SQLITE_ROWS:-100000}
test "${LIBMM_BIG:-0}" = 1 && rows=${LIBMM_SQLITE_ROWS:-1000000}

if test "${1:-}" = --scenario; then
	cd "$2"
	sqlite3 -bail -batch test.db <<SQL
PRAGMA cache_size = -65536;
PRAGMA journal_mode = WAL;
.mode list
.headers off
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city INTEGER,
                     score REAL, tags TEXT, blob BLOB);
CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT UNIQUE);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 199)
INSERT INTO cities SELECT i, 'city-' || printf('%03d', i) FROM c;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $rows)
INSERT INTO people
SELECT i,
       'person-' || i || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 7),
       (i * 7919) % 200,
       ((i * 104729) % 100000) / 100.0,
       json_array(i % 3, 'tag' || (i % 11), json_object('k', i % 5)),
       zeroblob(i % 300)
FROM c;
COMMIT;
CREATE INDEX people_city ON people(city, score);
CREATE INDEX people_name ON people(name);
SELECT count(*), sum(score), min(name), max(name), sum(length(blob)) FROM people;
SELECT c.name, count(*), round(avg(p.score), 4), max(p.score)
  FROM people p JOIN cities c ON c.id = p.city
 GROUP BY c.id ORDER BY count(*) DESC, c.name LIMIT 10;
SELECT id, name, rank FROM (
  SELECT id, name, rank() OVER (PARTITION BY city ORDER BY score DESC, id) AS rank
    FROM people) WHERE rank <= 2 ORDER BY id LIMIT 20;
SELECT json_extract(tags, '$[1]') AS t, count(*) FROM people GROUP BY t ORDER BY t;
SELECT group_concat(name, ',') FROM (SELECT name FROM people WHERE id % 9973 = 0 ORDER BY name);
UPDATE people SET score = score * 1.5, tags = json_set(tags, '$[2].k', 'updated')
 WHERE city IN (SELECT id FROM cities WHERE name LIKE 'city-1%');
DELETE FROM people WHERE id % 7 = 3;
BEGIN;
DELETE FROM people;
INSERT INTO people(name) VALUES ('gone');
ROLLBACK;
SELECT count(*), round(sum(score), 2) FROM people;
CREATE TABLE copy AS SELECT * FROM people WHERE score > 500 ORDER BY random();
SELECT count(*), sum(id) FROM copy;
SELECT upper(name), hex(substr(blob, 1, 4)), length(replace(name, '-', '--'))
  FROM copy WHERE id < 2000 ORDER BY id LIMIT 5;
DROP TABLE copy;
PRAGMA wal_checkpoint(TRUNCATE);
VACUUM;
SELECT count(*) FROM people;
PRAGMA integrity_check;
PRAGMA foreign_key_check;
SQL
	exit 0
fi

require_cmd sqlite3 sqlite3
find_dropin
new_scratch
echo "sqlite3 $(sqlite3 --version | cut -d' ' -f1), $rows rows"
run_twice
tail -n 3 "$scratch/dropin.out" | sed 's/^/  /'
test "$(tail -n 1 "$scratch/dropin.out")" = ok || fail "PRAGMA integrity_check did not say ok"
