/*
 * replay - run a fuzz target without libFuzzer: call LLVMFuzzerTestOneInput once
 * for every regular file in the directories (or files) named on the command line.
 * Linked with one target, it makes the committed corpus an ordinary test that any
 * compiler and any sanitizer setting can run.
 *
 * Each input is read into a heap block of exactly its size, as libFuzzer does, so
 * that a sanitizer build sees a read past the end. Exit status: 0 when every input
 * ran (a failed invariant aborts the process), 1 when a file or directory could
 * not be read or no input was found.
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: weak, so that its absence leaves a null pointer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* run_file - feed one file to the target; false when it cannot be read. */
static bool run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *data;
	size_t n;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return false;
	}
	/* malloc(0) may return NULL; one byte keeps the pointer valid for an empty input. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		fclose(f);
		return false;
	}
	n = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		return false;
	}
	LLVMFuzzerTestOneInput(data, n);
	free(data);
	return true;
}

/* compare - alphabetical order, so that runs are reproducible. */
static int compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run_dir - every regular file of a directory, sorted by name; returns the count or -1. */
static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t count = 0, cap = 0;
	long done = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if (grown == NULL) {
				done = -1;
				break;
			}
			names = grown;
		}
		size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
		names[count] = malloc(len);
		if (names[count] == NULL) {
			done = -1;
			break;
		}
		snprintf(names[count], len, "%s/%s", dir, e->d_name);
		count++;
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), compare);
	for (size_t i = 0; i < count; i++) {
		struct stat st;
		if (done >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			done = run_file(names[i]) ? done + 1 : -1;
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replay: %ld inputs\n", total);
	return total > 0 ? 0 : 1;
}
