/*
 * mmview: a picture of a libmm heap.  Reads the dump that mm_heap_print,
 * mm_print_mem_list and LIBMM_DUMP write (format: mm_heap_walk(3)) and
 * writes an SVG: for each heap a band per region, mapping and slab page,
 * in the dump's order (address order within each kind), each block a
 * rectangle coloured by its state, its width growing with the logarithm
 * of its size so that a 16-byte slot and a 4 MiB mapping both show; a
 * band longer than the picture is wide folds onto the next rows.  Under
 * each heap, its figures, summed from the block lines exactly.
 *
 * A plain C program on libc alone: it runs where the dump was made.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "?"
#endif

enum state { ST_USED, ST_FREE, ST_REMOTE, ST_QUARANTINE, ST_COUNT };

static const char *const state_class[ST_COUNT] = { "u", "f", "r", "q" };
static const char *const state_name[ST_COUNT] = {
	"in use", "free", "free, remote", "free, quarantine"
};

struct block {
	uint64_t addr, size;
	enum state state;
};

/* What a band line said: a region, a mapping, a segment (a heading for
 * the pages after it, which hold the blocks) or a page; blocks before any
 * band line (a dump from before band lines) go to a band of their own. */
enum band_kind { BAND_BLOCKS, BAND_REGION, BAND_MAPPING, BAND_SEGMENT, BAND_PAGE };

struct band {
	enum band_kind kind;
	uint64_t start, end;
	char what[32];		/* region: pool, mmap, brk; page: "class N" */
	size_t first, count;	/* its blocks in the heap's array */
};

struct figures {
	uint64_t blocks[ST_COUNT], bytes[ST_COUNT];
	uint64_t largest_free;
};

struct heap {
	char title[256];	/* the dump's first line */
	char dump_summary[256];	/* its "in use: ..." line, if any */
	int busy;		/* a "libmm dump: ... busy" line instead */
	struct block *blocks;
	size_t nblocks, cap_blocks;
	struct band *bands;
	size_t nbands, cap_bands;
	struct figures fig;
};

static const char *prog = "mmview";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *grow(void *p, size_t *cap, size_t n, size_t each)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	p = realloc(p, *cap * each);
	if (!p)
		die("out of memory");
	return p;
}

/* --- Reading the dump ------------------------------------------------------ */

struct input {
	struct heap *heaps;
	size_t nheaps, cap;
};

static struct heap *heap_new(struct input *in, const char *title)
{
	struct heap *h;

	in->heaps = grow(in->heaps, &in->cap, in->nheaps, sizeof *in->heaps);
	h = &in->heaps[in->nheaps++];
	memset(h, 0, sizeof *h);
	snprintf(h->title, sizeof h->title, "%s", title);
	return h;
}

static struct band *band_new(struct heap *h, enum band_kind kind, uint64_t start,
	uint64_t end, const char *what)
{
	struct band *b;

	h->bands = grow(h->bands, &h->cap_bands, h->nbands, sizeof *h->bands);
	b = &h->bands[h->nbands++];
	b->kind = kind;
	b->start = start;
	b->end = end;
	snprintf(b->what, sizeof b->what, "%s", what);
	b->first = h->nblocks;
	b->count = 0;
	return b;
}

static void add_block(struct input *in, uint64_t addr, uint64_t size, enum state st)
{
	struct heap *h = in->nheaps ? &in->heaps[in->nheaps - 1] : heap_new(in, "libmm heap (no header line)");
	struct band *b = h->nbands ? &h->bands[h->nbands - 1] : NULL;

	/* blocks follow a segment line only through its page lines */
	if (!b || b->kind == BAND_SEGMENT)
		b = band_new(h, BAND_BLOCKS, addr, 0, "");
	h->blocks = grow(h->blocks, &h->cap_blocks, h->nblocks, sizeof *h->blocks);
	h->blocks[h->nblocks++] = (struct block){ addr, size, st };
	b->count++;
	if (b->kind == BAND_BLOCKS)
		b->end = addr + size;
	h->fig.blocks[st]++;
	h->fig.bytes[st] += size;
	if (st != ST_USED && size > h->fig.largest_free)
		h->fig.largest_free = size;
}

/* "NAME 0xSTART-0xEND, N bytes[, WHAT]": 1 when line is such a band line. */
static int parse_band(const char *line, const char *name, uint64_t *start, uint64_t *end,
	char *what, size_t what_len)
{
	size_t n = strlen(name);
	uint64_t bytes;
	int used = 0;

	if (strncmp(line, name, n) || line[n] != ' ')
		return 0;
	if (sscanf(line + n, " 0x%" SCNx64 "-0x%" SCNx64 ", %" SCNu64 " bytes%n",
		   start, end, &bytes, &used) != 3 || *end - *start != bytes)
		return -1;
	line += n + (size_t)used;
	if (line[0] == ',' && line[1] == ' ')
		line += 2;
	snprintf(what, what_len, "%.*s", (int)strcspn(line, "\n"), line);
	return 1;
}

static void read_dump(FILE *f, const char *name, struct input *in)
{
	char line[1024];
	unsigned long lineno = 0;

	while (fgets(line, sizeof line, f)) {
		const char *at;
		uint64_t start, end, addr, size, next;
		char what[32];
		int is_free, used = 0, kind;
		struct heap *h = in->nheaps ? &in->heaps[in->nheaps - 1] : NULL;

		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			die("%s:%lu: line too long", name, lineno);
		line[strcspn(line, "\n")] = '\0';
		/* a program's output may run into the dump's first line */
		if ((at = strstr(line, "libmm heap 0x")) != NULL) {
			heap_new(in, at);
			continue;
		}
		if ((at = strstr(line, "libmm dump: heap ")) != NULL) {
			heap_new(in, at)->busy = 1;
			continue;
		}
		if ((at = strstr(line, "addr = ")) != NULL) {
			enum state st;

			if (sscanf(at, "addr = 0x%" SCNx64 ", size = %" SCNu64
				   ", is_free=%d, next=0x%" SCNx64 "%n",
				   &addr, &size, &is_free, &next, &used) != 4 ||
			    (is_free != 0 && is_free != 1))
				die("%s:%lu: not a block line: %s", name, lineno, line);
			at += used;
			st = is_free ? ST_FREE : ST_USED;
			if (is_free && !strcmp(at, ", remote"))
				st = ST_REMOTE;
			else if (is_free && !strcmp(at, ", quarantine"))
				st = ST_QUARANTINE;
			else if (*at)
				die("%s:%lu: not a block line: %s", name, lineno, line);
			add_block(in, addr, size, st);
			continue;
		}
		if (!h)
			continue;	/* the program's own output */
		if (!strncmp(line, "in use: ", 8)) {
			snprintf(h->dump_summary, sizeof h->dump_summary, "%.*s",
				 (int)sizeof h->dump_summary - 1, line);
			continue;
		}
		kind = -1;
		if ((used = parse_band(line, "region", &start, &end, what, sizeof what)))
			kind = BAND_REGION;
		else if ((used = parse_band(line, "mapping", &start, &end, what, sizeof what)))
			kind = BAND_MAPPING;
		else if ((used = parse_band(line, "segment", &start, &end, what, sizeof what)))
			kind = BAND_SEGMENT;
		else if ((used = parse_band(line, "page", &start, &end, what, sizeof what)))
			kind = BAND_PAGE;
		if (used < 0)
			die("%s:%lu: not a band line: %s", name, lineno, line);
		if (kind >= 0)
			band_new(h, (enum band_kind)kind, start, end, what);
	}
	if (ferror(f))
		die("%s: %s", name, strerror(errno));
}

/* --- Drawing ----------------------------------------------------------------- */

#define MARGIN 16
#define ROW_H 14	/* a row of blocks */
#define ROW_GAP 3
#define LABEL_H 16	/* a band's or heading's line of text */
#define LINE_H 15	/* a line of the figures */

/* log2(x) for x >= 1, from the exponent and by squaring the mantissa:
 * no libm. */
static double log2_of(double x)
{
	double r = 0, bit = 1;

	while (x >= 2) {
		x /= 2;
		r += 1;
	}
	for (int i = 0; i < 24; i++) {
		x *= x;
		bit /= 2;
		if (x >= 2) {
			x /= 2;
			r += bit;
		}
	}
	return r;
}

/* The width of a block of size bytes: 8 px for 16 bytes, 6 px more each
 * time the size doubles (4 KiB: 50 px, 4 MiB: 110 px). */
static double block_width(uint64_t size)
{
	return 2 + 6 * log2_of(1 + (double)size / 16);
}

/* Text for XML: the dump's lines hold nothing worse than an apostrophe,
 * but a title given on the command line may. */
static void put_text(FILE *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, o);
		}
	}
}

static void put_label(FILE *o, double x, double y, const char *cls, const char *text)
{
	fprintf(o, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", cls, x, y);
	put_text(o, text);
	fputs("</text>\n", o);
}

static void band_label(const struct heap *h, const struct band *b, char *buf, size_t len)
{
	static const char *const kinds[] = { "blocks", "region", "mapping", "segment", "page" };
	uint64_t used = 0, free_bytes = 0;
	int n;

	for (size_t i = b->first; i < b->first + b->count; i++) {
		if (h->blocks[i].state == ST_USED)
			used += h->blocks[i].size;
		else
			free_bytes += h->blocks[i].size;
	}
	n = snprintf(buf, len, "%s 0x%" PRIx64 "-0x%" PRIx64, kinds[b->kind], b->start, b->end);
	if (b->kind != BAND_BLOCKS && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", %" PRIu64 " bytes", b->end - b->start);
	if (b->what[0] && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ", %s", b->what);
	if (b->kind != BAND_SEGMENT && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ": %zu blocks, %" PRIu64 " bytes in use, %"
			 PRIu64 " free", b->count, used, free_bytes);
}

/* A heap at y; returns the y below it. */
static double draw_heap(FILE *o, const struct heap *h, double y, double width)
{
	const struct figures *fg = &h->fig;
	uint64_t in_use = fg->bytes[ST_USED];
	uint64_t free_bytes = fg->bytes[ST_FREE] + fg->bytes[ST_REMOTE] + fg->bytes[ST_QUARANTINE];
	uint64_t free_blocks = fg->blocks[ST_FREE] + fg->blocks[ST_REMOTE] + fg->blocks[ST_QUARANTINE];
	double right = width - MARGIN;
	char text[512];

	fprintf(o, "<g class=\"heap\" data-blocks=\"%zu\" data-in-use-bytes=\"%" PRIu64
		"\" data-free-bytes=\"%" PRIu64 "\" data-largest-free=\"%" PRIu64 "\">\n",
		h->nblocks, in_use, free_bytes, fg->largest_free);
	y += LABEL_H + 2;
	put_label(o, MARGIN, y, "heap", h->title);
	if (h->busy) {
		y += LABEL_H;
		put_label(o, MARGIN, y, "band", "no blocks: the heap was busy when the signal came");
	}
	for (size_t k = 0; k < h->nbands; k++) {
		const struct band *b = &h->bands[k];
		double x = MARGIN;

		band_label(h, b, text, sizeof text);
		y += LABEL_H;
		put_label(o, b->kind == BAND_PAGE ? MARGIN + 12 : MARGIN, y,
			  b->kind == BAND_SEGMENT ? "heading" : "band", text);
		if (!b->count)
			continue;
		y += 4;
		for (size_t i = b->first; i < b->first + b->count; i++) {
			const struct block *bl = &h->blocks[i];
			double w = block_width(bl->size);

			if (x + w > right && x > MARGIN) {	/* fold */
				x = MARGIN;
				y += ROW_H + ROW_GAP;
			}
			if (w > right - MARGIN)
				w = right - MARGIN;
			fprintf(o, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\""
				" data-addr=\"0x%" PRIx64 "\" data-size=\"%" PRIu64 "\">"
				"<title>0x%" PRIx64 ": %" PRIu64 " bytes, %s</title></rect>\n",
				state_class[bl->state], x, y, w - 1, ROW_H, bl->addr, bl->size,
				bl->addr, bl->size, state_name[bl->state]);
			x += w;
		}
		y += ROW_H;
	}
	y += 6;
	snprintf(text, sizeof text, "in use: %" PRIu64 " blocks, %" PRIu64 " bytes",
		 fg->blocks[ST_USED], in_use);
	put_label(o, MARGIN, y += LINE_H, "fig", text);
	snprintf(text, sizeof text, "free: %" PRIu64 " blocks, %" PRIu64
		 " bytes (of which remote %" PRIu64 ", quarantine %" PRIu64 ")",
		 free_blocks, free_bytes, fg->bytes[ST_REMOTE], fg->bytes[ST_QUARANTINE]);
	put_label(o, MARGIN, y += LINE_H, "fig", text);
	snprintf(text, sizeof text, "largest free block: %" PRIu64 " bytes", fg->largest_free);
	put_label(o, MARGIN, y += LINE_H, "fig", text);
	if (free_bytes) {
		/* 1 - largest / free to four places, in integers: exact */
		uint64_t q = ((free_bytes - fg->largest_free) * 10000 + free_bytes / 2) / free_bytes;

		snprintf(text, sizeof text, "fragmentation: 1 - largest free / free = %" PRIu64
			 ".%04" PRIu64, q / 10000, q % 10000);
	} else {
		snprintf(text, sizeof text, "fragmentation: none (no free bytes)");
	}
	put_label(o, MARGIN, y += LINE_H, "fig", text);
	if (h->dump_summary[0]) {
		snprintf(text, sizeof text, "the dump's own line: %s", h->dump_summary);
		put_label(o, MARGIN, y += LINE_H, "note", text);
	}
	fputs("</g>\n", o);
	return y + 8;
}

static double draw_legend(FILE *o, double y)
{
	static const char *const text[ST_COUNT] = {
		"in use", "free", "free, remote (another thread freed it; its owner has not taken it back)",
		"free, quarantine (held back by the secure mode)"
	};
	double x = MARGIN;

	y += 4;
	for (int s = 0; s < ST_COUNT; s++) {
		if (s >= ST_REMOTE) {	/* the long ones on lines of their own */
			x = MARGIN;
			y += ROW_H + 4;
		}
		fprintf(o, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\"/>\n",
			state_class[s], x, y, ROW_H, ROW_H - 2);
		put_label(o, x + ROW_H + 6, y + ROW_H - 3, "legend", text[s]);
		x += 120;
	}
	y += ROW_H + 4;
	put_label(o, MARGIN, y += LINE_H, "note",
		  "width of a block: 2 + 6 log2(1 + size / 16) px (16 B: 8 px, 4 KiB: 50 px, "
		  "4 MiB: 110 px); long bands fold onto the next rows");
	return y + 4;
}

static void draw(FILE *out, const struct input *in, const char *title, double width)
{
	char *body = NULL;
	size_t body_len = 0;
	FILE *o = open_memstream(&body, &body_len);
	uint64_t blocks = 0, in_use = 0, free_bytes = 0, largest = 0;
	double y = MARGIN;

	if (!o)
		die("open_memstream: %s", strerror(errno));
	put_label(o, MARGIN, y += 16, "title", title);
	y = draw_legend(o, y);
	for (size_t k = 0; k < in->nheaps; k++) {
		const struct heap *h = &in->heaps[k];

		y = draw_heap(o, h, y, width);
		blocks += h->nblocks;
		in_use += h->fig.bytes[ST_USED];
		free_bytes += h->fig.bytes[ST_FREE] + h->fig.bytes[ST_REMOTE] +
			      h->fig.bytes[ST_QUARANTINE];
		if (h->fig.largest_free > largest)
			largest = h->fig.largest_free;
	}
	if (fclose(o))
		die("open_memstream: %s", strerror(errno));

	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\""
		" viewBox=\"0 0 %.0f %.0f\" data-heaps=\"%zu\" data-blocks=\"%" PRIu64 "\""
		" data-in-use-bytes=\"%" PRIu64 "\" data-free-bytes=\"%" PRIu64 "\""
		" data-largest-free=\"%" PRIu64 "\">\n",
		width, y + MARGIN, width, y + MARGIN, in->nheaps, blocks, in_use, free_bytes, largest);
	fputs("<!-- drawn by mmview " PACKAGE_VERSION " from a libmm heap dump -->\n", out);
	fputs("<style>\n"
	      "text { font-family: monospace; font-size: 11px; fill: #222; }\n"
	      ".title { font-size: 15px; font-weight: bold; }\n"
	      ".heap { font-size: 13px; font-weight: bold; }\n"
	      ".heading { font-weight: bold; }\n"
	      ".note { fill: #666; }\n"
	      ".u { fill: #2f6db5; }\n"
	      ".f { fill: #cfe8c8; stroke: #6aa35c; stroke-width: 0.5; }\n"
	      ".r { fill: #f0a030; }\n"
	      ".q { fill: #b07cc6; }\n"
	      "</style>\n", out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
		width, y + MARGIN);
	fwrite(body, 1, body_len, out);
	fputs("</svg>\n", out);
	free(body);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [-t title] [-w width] [file]\n"
		"Draws a libmm heap dump (mm_heap_print, mm_print_mem_list, LIBMM_DUMP)\n"
		"from file, or standard input, as SVG on standard output.\n", prog);
}

int main(int argc, char **argv)
{
	const char *title = NULL, *name = "-";
	double width = 1000;
	struct input in = { 0 };
	char deftitle[300];
	FILE *f = stdin;
	int c;

	while ((c = getopt(argc, argv, "ht:w:V")) != -1) {
		char *end;

		switch (c) {
		case 't':
			title = optarg;
			break;
		case 'w':
			width = strtod(optarg, &end);
			if (*end || !(width >= 300 && width <= 100000))
				die("-w %s: a width in pixels from 300 to 100000", optarg);
			break;
		case 'V':
			printf("mmview %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	if (optind < argc && strcmp(argv[optind], "-")) {
		name = argv[optind];
		if (!(f = fopen(name, "r")))
			die("%s: %s", name, strerror(errno));
	}
	read_dump(f, name, &in);
	if (f != stdin)
		fclose(f);
	if (!in.nheaps)
		die("%s: no libmm heap dump in it", name);
	if (!title) {
		snprintf(deftitle, sizeof deftitle, "libmm heap map of %s",
			 strcmp(name, "-") ? name : "standard input");
		title = deftitle;
	}
	draw(stdout, &in, title, width);
	if (fflush(stdout) || ferror(stdout))
		die("standard output: %s", strerror(errno));
	for (size_t k = 0; k < in.nheaps; k++) {
		free(in.heaps[k].blocks);
		free(in.heaps[k].bands);
	}
	free(in.heaps);
	return 0;
}
