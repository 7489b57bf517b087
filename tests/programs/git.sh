#!/bin/sh
# git on the drop-in: a repository of LIBMM_GIT_FILES generated files
# (default 2000; LIBMM_BIG=1: 20000) in nested directories; add, commit,
# edits, deletions and renames, a branch and a merge, log, grep, gc, fsck
# and archive, every git process (and those git starts) on
# libmm-malloc.so.1.  Identities and dates are fixed, so the commit
# hashes, logs and listings must be byte for byte those of the run
# without the drop-in.
set -eu
. "$srcdir/tests/programs/common.sh"

nfiles=${LIBMM_GIT_FILES:-2000}
test "${LIBMM_BIG:-0}" = 1 && nfiles=${LIBMM_GIT_FILES:-20000}

if test "${1:-}" = --scenario; then
	cd "$2"
	mkdir home
	HOME=$2/home
	XDG_CONFIG_HOME=$2/home
	GIT_CONFIG_NOSYSTEM=1
	GIT_AUTHOR_NAME="libmm test"
	GIT_AUTHOR_EMAIL=test@libmm.invalid
	GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
	GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME
	GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
	GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
	TZ=UTC
	LC_ALL=C
	export HOME XDG_CONFIG_HOME GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL \
		GIT_AUTHOR_DATE GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL GIT_COMMITTER_DATE TZ LC_ALL
	unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE

	git init -q repo
	cd repo
	git config user.name "$GIT_AUTHOR_NAME"
	git config user.email "$GIT_AUTHOR_EMAIL"
	git config gc.auto 0
	git checkout -q -b main

	# files d<k>/e<j>/file<i>.txt, a few dozen lines each (few processes:
	# each costs more time than git spends on a file)
	awk 'BEGIN { for (a = 0; a < 40; a++) for (b = 0; b < 7; b++) printf "d%02d/e%d\n", a, b }' |
		xargs mkdir -p
	awk -v n="$nfiles" 'BEGIN {
		for (i = 0; i < n; i++) {
			d = sprintf("d%02d/e%d", i % 40, i % 7)
			f = sprintf("%s/file%05d.txt", d, i)
			lines = 5 + i % 40
			for (l = 0; l < lines; l++)
				printf "file %d line %d: %s\n", i, l, substr("the quick brown fox jumps over the lazy dog", 1 + (i + l) % 30) >f
			close(f)
		}
	}'
	git add -A
	git commit -q -m "initial: $nfiles files"

	# edit every 10th file, delete every 97th, rename two directories
	git ls-files | awk 'NR % 10 == 0 { print "edited line " NR >>$0; close($0) }'
	git ls-files | awk 'NR % 97 == 0' | xargs git rm -q -f
	git mv d05 d05-renamed
	git mv d17/e3 d17/e3-moved
	git add -A
	GIT_COMMITTER_DATE="2026-01-02T00:00:00Z" git commit -q -m "edits, deletions, renames"

	git checkout -q -b topic
	git ls-files | awk 'NR % 26 == 0 { print "topic " NR >>$0; close($0) }'
	GIT_COMMITTER_DATE="2026-01-03T00:00:00Z" git commit -q -am "topic work"
	git checkout -q main
	git ls-files | awk 'NR % 34 == 1 { print "main " NR >>$0; close($0) }'
	GIT_COMMITTER_DATE="2026-01-04T00:00:00Z" git commit -q -am "main work"
	GIT_COMMITTER_DATE="2026-01-05T00:00:00Z" git merge -q --no-edit topic

	echo "HEAD $(git rev-parse HEAD) tree $(git rev-parse 'HEAD^{tree}')"
	git log --format='%H %P %an %ad %s' --date=iso-strict
	git log --stat --format=%H | cksum
	git log -p --format=%H HEAD~2..HEAD | cksum
	git ls-files -s | cksum
	echo "files: $(git ls-files | wc -l)"
	git grep -c 'line 7:' | cksum
	git diff --stat HEAD~3 HEAD | tail -n 1
	git gc -q
	git fsck --full --strict --no-progress
	git count-objects -v | grep -v 'size'
	git archive --format=tar HEAD | cksum
	git show HEAD~1:d05-renamed/e5/file00005.txt | cksum
	git log --oneline | wc -l
	exit 0
fi

require_cmd git git
require_cmd awk mawk
find_dropin
new_scratch
echo "$(git --version), $nfiles files"
run_twice
head -n 3 "$scratch/dropin.out" | sed 's/^/  /'
