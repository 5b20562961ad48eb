/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput() on files: each
 * argument is a file or a directory of them.  Built in every configuration,
 * so that make check replays the seed corpora and the regression inputs of
 * every target, under the sanitizers when they are on.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int
replay_file(const char *path)
{
	FILE		*f;
	uint8_t		*buf = NULL;
	size_t		 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 4096);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* replay_path() returns the number of inputs run, or -1. */
static long
replay_path(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, *full;
	size_t		 n = 0, i;
	long		 runs = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) < 0 ? -1 : 1;
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL ||
		    (nn[n] = strdup(de->d_name)) == NULL) {
			names = nn ? nn : names;
			runs = -1;
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && runs >= 0; i++) {
		if (asprintf(&full, "%s/%s", path, names[i]) < 0) {
			runs = -1;
			break;
		}
		if (replay_file(full) < 0)
			runs = -1;
		else
			runs++;
		free(full);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return runs;
}

int
main(int argc, char **argv)
{
	long	 runs, total = 0;
	int	 i;

	for (i = 1; i < argc; i++) {
		if ((runs = replay_path(argv[i])) < 0)
			return 1;
		total += runs;
	}
	printf("%s: %ld inputs replayed\n", argv[0], total);
	return 0;
}
