// newdelete: C++ on the drop-in.  libmm does not define operator new or
// delete; libstdc++'s operators call malloc and free, which must be
// libmm's.  Compiled by tests/dropin/cxx.sh at test time (when a C++
// compiler is there), linked with libmm-malloc (DROPIN_LINKED) and plain
// for LD_PRELOAD.  Exit 0 when every check holds; the first failure is
// reported on standard error.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dropin.h"

static int failures;

#define CHECK(cond) do { \
		if (!(cond)) { \
			std::fprintf(stderr, "newdelete (%s): line %d: %s\n", \
				     DROPIN_MODE, __LINE__, #cond); \
			failures++; \
		} \
	} while (0)

struct alignas(256) Wide {
	unsigned char bytes[300];
};

static std::atomic<unsigned> tl_destroyed;

// thread_local with a destructor that frees (and allocates) at thread exit
struct PerThread {
	std::vector<std::string> names;
	~PerThread()
	{
		std::string last = names.empty() ? std::string("none") : names.back();
		last += " gone";
		if (last.size() > 5)
			tl_destroyed++;
	}
};
static thread_local PerThread per_thread;

static void operators_reach_libmm()
{
	mm_stats_t before = dropin_stats(), after;
	std::vector<void *> v;

	for (int i = 0; i < 1000; i++)
		v.push_back(::operator new(16 + i));
	after = dropin_stats();
	CHECK(after.alloc_count >= before.alloc_count + 1000);
	for (void *p : v) {
		CHECK(dropin_owns(p));
		::operator delete(p);
	}

	int *arr = new int[1000];
	CHECK(dropin_owns(arr));
	arr[999] = 7;
	delete[] arr;

	std::string *s = new std::string(1000, 'x');
	CHECK(dropin_owns(s));
	CHECK(dropin_owns(s->data()));
	delete s;

	// aligned new (C++17) goes to aligned_alloc or posix_memalign
	Wide *w = new Wide;
	CHECK(reinterpret_cast<std::uintptr_t>(w) % 256 == 0);
	CHECK(dropin_owns(w));
	delete w;
	Wide *wa = new Wide[10];
	CHECK(reinterpret_cast<std::uintptr_t>(wa) % 256 == 0);
	delete[] wa;

	// operator new is libstdc++'s, not libmm's
	void *sym = dlsym(RTLD_DEFAULT, "_Znwm");
	Dl_info info;
	CHECK(sym != nullptr);
	if (sym && dladdr(sym, &info) && info.dli_fname) {
		std::string where(info.dli_fname);
		CHECK(where.find("libmm") == std::string::npos);
		CHECK(where.find("libstdc++") != std::string::npos);
	}
}

static void containers()
{
	std::vector<int> v;
	for (int i = 0; i < 1000000; i++)
		v.push_back(i * 3);
	CHECK(v.size() == 1000000 && v[123456] == 370368);

	std::map<int, std::string> m;
	for (int i = 0; i < 50000; i++)
		m[(i * 7919) % 50000] = std::to_string(i) + std::string(i % 100, 'm');
	CHECK(m.size() == 50000);
	CHECK(m.begin()->first == 0 && m.rbegin()->first == 49999);
	for (int i = 0; i < 50000; i += 2)
		m.erase(i);
	CHECK(m.size() == 25000);

	std::unordered_map<std::string, std::vector<int>> u;
	for (int i = 0; i < 30000; i++)
		u["key" + std::to_string(i % 5000)].push_back(i);
	CHECK(u.size() == 5000 && u["key42"].size() == 6);

	std::string big;
	for (int i = 0; i < 100000; i++)
		big += std::to_string(i);
	CHECK(big.size() == 488890);
	std::string copy = big;
	std::reverse(copy.begin(), copy.end());
	CHECK(copy[copy.size() - 1] == '0');

	std::list<std::shared_ptr<std::string>> l;
	for (int i = 0; i < 20000; i++)
		l.push_back(std::make_shared<std::string>(64, char('a' + i % 26)));
	l.remove_if([](const std::shared_ptr<std::string> &p) { return (*p)[0] == 'a'; });
	CHECK(l.size() == 20000 - 770);

	std::vector<std::unique_ptr<int[]>> blocks;
	for (int i = 0; i < 200; i++)
		blocks.emplace_back(new int[1000 * (i % 50 + 1)]);
	blocks.clear();
	CHECK(dropin.heap_check(nullptr) == 0);
}

static void failing_new()
{
	volatile std::size_t huge = PTRDIFF_MAX;
	bool thrown = false;

	try {
		void *p = ::operator new(huge);
		::operator delete(p);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	CHECK(thrown);

	thrown = false;
	try {
		volatile std::size_t n = std::size_t(1) << 60;
		long *p = new long[n];
		delete[] p;
	} catch (const std::bad_alloc &) {	// or bad_array_new_length
		thrown = true;
	}
	CHECK(thrown);

	void *q = ::operator new(huge, std::nothrow);
	CHECK(q == nullptr);

	// exceptions themselves are allocated with malloc
	unsigned caught = 0;
	for (int i = 0; i < 2000; i++) {
		try {
			throw std::runtime_error("failure number " + std::to_string(i));
		} catch (const std::runtime_error &e) {
			if (std::string(e.what()).find(std::to_string(i)) != std::string::npos)
				caught++;
		}
	}
	CHECK(caught == 2000);
}

static void threads()
{
	std::vector<std::thread> ts;
	std::atomic<unsigned> ok{0};

	tl_destroyed = 0;
	for (int round = 0; round < 8; round++) {
		for (int t = 0; t < 8; t++)
			ts.emplace_back([&ok, t] {
				std::map<int, std::string> m;
				for (int i = 0; i < 2000; i++) {
					m[i] = std::string(i % 64 + 1, char('a' + t));
					per_thread.names.push_back(m[i]);
				}
				if (m.size() == 2000)
					ok++;
			});
		for (auto &t : ts)
			t.join();
		ts.clear();
	}
	CHECK(ok == 64);
	CHECK(tl_destroyed == 64);
}

int main()
{
	const char *why = dropin_malloc_is_ours();

	if (why) {
		std::fprintf(stderr, "newdelete (%s): %s\n", DROPIN_MODE, why);
		return 1;
	}
	operators_reach_libmm();
	containers();
	failing_new();
	threads();
	CHECK(dropin.heap_check(nullptr) == 0);
	if (failures)
		return 1;
	std::printf("newdelete (%s): ok\n", DROPIN_MODE);
	return 0;
}
