/* What loading libcurl costs a process, loaded as lib/cp/curl_lazy.cpp loads it
   (bench/RESULTS.md, "Register: where the client's time goes"):
     gcc -O2 bench/curl-load.c -o /tmp/curl-load
     perf stat -r 100 -e page-faults,task-clock /tmp/curl-load [init]
     valgrind --tool=lackey --basic-counts=yes /tmp/curl-load [init]
   Without an argument: dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL) only; with one,
   also curl_global_init(CURL_GLOBAL_DEFAULT) and curl_easy_init(). */
#include <dlfcn.h>

int main(int argc, char **argv)
{
	(void)argv;
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 1;
	if (argc > 1) {
		int (*global_init)(long) = (int (*)(long))dlsym(h, "curl_global_init");
		void *(*easy_init)(void) = (void *(*)(void))dlsym(h, "curl_easy_init");
		if (global_init(3 /* CURL_GLOBAL_DEFAULT */) != 0 || !easy_init())
			return 2;
	}
	return 0;
}
