/*
 * pam_homecrypt.so: the native PAM module of homecrypt (docs/PAM.md).
 *
 * It holds no logic of its own. For a user without a homecrypt record it
 * returns PAM_IGNORE at once and starts nothing. For a homecrypt user it
 *   auth       keeps the password PAM accepted (pam_set_data; wiped at pam_end)
 *   session    runs the helper (the same TypeScript hook pam_exec runs) with
 *              that password on its stdin: unwrap, key into the keyring, mount;
 *              at close: count down, the last session unmounts and drops the key
 *   password   gives the helper the old and the new password: re-wrap now
 * The helper's output reaches the user as PAM info messages. Nothing here ever
 * fails a login: every error is logged and answered with PAM_IGNORE, and a
 * helper still running at the deadline is killed.
 *
 * Arguments: hook=PATH (default below), timeout=SECONDS (default 65), debug.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define DEFAULT_HOOK "/usr/lib/homecrypt/pam/homecrypt-pam-hook"
#define RECORD_DIR "/etc/homecrypt/users"
#define DATA_NAME "homecrypt_authtok"
#define MAX_TOKEN 4096 /* as the helper: anything longer is not a password */
#define MAX_OUTPUT 16384
#define RUN_DIR "/run/homecrypt"
#define LOCK_DIR RUN_DIR "/locks"
#define LOG_FILE "/var/log/homecrypt.log"
/*
 * A helper ends by itself after 60 s (docs/LOGIN.md), unless it is stopped: a
 * stopped process runs no timer, and the user may SIGSTOP it while it works
 * with their ids (docs/SECURITY.md). So the module kills it at its own deadline.
 */
#define DEFAULT_TIMEOUT_MS 65000
/* after SIGKILL: a helper stuck in the kernel is left unreaped rather than waited for */
#define REAP_WAIT_MS 5000

struct args {
	const char *hook;
	int debug;
	int timeout_ms;
};

static void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
	a->hook = DEFAULT_HOOK;
	a->debug = 0;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	for (int i = 0; i < argc; i++) {
		char *end;
		long s;
		if (strncmp(argv[i], "hook=", 5) == 0 && argv[i][5] == '/')
			a->hook = argv[i] + 5;
		else if (strncmp(argv[i], "timeout=", 8) == 0 && (s = strtol(argv[i] + 8, &end, 10)) >= 1 && s <= 600 &&
			 *end == '\0' && end != argv[i] + 8)
			a->timeout_ms = (int)s * 1000;
		else if (strcmp(argv[i], "debug") == 0)
			a->debug = 1;
		else
			pam_syslog(pamh, LOG_ERR, "unknown argument ignored: %s", argv[i]);
	}
}

/* A name that can only be a file inside RECORD_DIR (the helper checks it again). */
static int plain_name(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 64 || u[0] == '.' || u[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || (c == '$' && i == n - 1)))
			return 0;
	}
	return 1;
}

/* The user PAM is working for, when it has a homecrypt record; else NULL. */
static const char *homecrypt_user(pam_handle_t *pamh)
{
	const char *user = NULL;
	char path[sizeof(RECORD_DIR) + 80];
	struct stat st;

	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || user == NULL || !plain_name(user))
		return NULL;
	snprintf(path, sizeof(path), RECORD_DIR "/%s.json", user);
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	return user;
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/*
 * An error of PHASE for USER: syslog, and the hook's own root-only log file
 * (machines without a syslog daemon, containers, would lose it otherwise).
 */
static void log_err(pam_handle_t *pamh, const char *phase, const char *user, const char *fmt, ...)
{
	char msg[512], stamp[32];
	struct timespec t;
	struct tm tm;
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pam_syslog(pamh, LOG_ERR, "%s %s: %s", phase, user, msg);
	fd = open(LOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	dprintf(fd, "%s.%03ldZ pam_homecrypt[%d]: err: %s %s: %s\n", stamp, t.tv_nsec / 1000000L, (int)getpid(), phase,
		user, msg);
	close(fd);
}

static void wipe_free(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static void cleanup_authtok(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	wipe_free(data);
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Each line the helper printed, as a PAM info message. */
static void relay_output(pam_handle_t *pamh, char *out)
{
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (*line != '\0')
			pam_info(pamh, "%s", line);
}

static void child_exec(const struct args *a, const char *phase, int in_fd, int out_fd, char *const envp[])
{
	sigset_t none;
	const char *argv[] = { a->hook, "module", phase, NULL };
	const struct rlimit no_core = { 0, 0 }, unlimited = { RLIM_INFINITY, RLIM_INFINITY };

	/* copies above 2 first: an application started without stdin may have handed out fd 0 or 1 */
	int i = fcntl(in_fd, F_DUPFD, 3), o = fcntl(out_fd, F_DUPFD, 3);
	if (i < 0 || o < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	/*
	 * su and sudo enter PAM set-uid: real uid the caller, effective uid 0.
	 * The helper must act as full root (a shell or a tool it starts would
	 * otherwise drop to the caller and fail on root's files).
	 */
	if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0))
		_exit(126);
	/*
	 * Nothing of the caller's (passwd's cwd, rlimits, umask) may stop the
	 * helper half-way (SIGXCPU, SIGXFSZ) or write its memory, passwords
	 * included, as a core file; its own group, so the deadline kills its
	 * children with it.
	 */
	if (setpgid(0, 0) != 0 || chdir("/") != 0 || setrlimit(RLIMIT_CORE, &no_core) != 0 ||
	    setrlimit(RLIMIT_CPU, &unlimited) != 0 || setrlimit(RLIMIT_FSIZE, &unlimited) != 0)
		_exit(126);
	umask(022);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	execve(a->hook, (char *const *)argv, envp);
	_exit(127);
}

/*
 * One helper per user at a time. A user can start any number of logins of
 * their own account at once (su with their own password, in a loop); each
 * helper is a node process run as root, not counted against the user's
 * limits, and the helper's own lock only serialises them once they are all
 * in memory. The wait happens here instead, in the PAM process the login
 * already is: a flock on LOCK_DIR/USER.turn (root's folder). Returns the
 * locked fd, or -1 when the turn never came (the caller skips the helper).
 */
static int wait_turn(pam_handle_t *pamh, const char *user, int wait_ms)
{
	char path[sizeof(LOCK_DIR) + 80];
	struct timespec pause = { 0, 25 * 1000 * 1000 };
	int fd;

	(void)mkdir(RUN_DIR, 0700);
	(void)mkdir(LOCK_DIR, 0700);
	snprintf(path, sizeof(path), LOCK_DIR "/%s.turn", user);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		pam_syslog(pamh, LOG_ERR, "cannot open %s: %m; running the helper unserialised", path);
		return -2;
	}
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 25) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return -2;
		}
		if (waited >= wait_ms) {
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

/* Reaps pid by `deadline`: 1 reaped, 0 still running, -1 reaped for us (SIGCHLD ignored). */
static int reap_by(pid_t pid, int *status, long deadline)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			*status = 0;
			return -1;
		}
		if (now_ms() >= deadline)
			return 0;
		nanosleep(&pause, NULL);
	}
}

/* Reads what the helper prints into buf until EOF or `deadline`; 0 when the deadline came first. */
static int read_output(int fd, char *buf, size_t *len, long deadline)
{
	char sink[512];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = deadline - now_ms();
		ssize_t r;
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return 0;
		if (n < 0)
			return 1;
		/* past MAX_OUTPUT keep draining, so the helper never blocks on a full pipe */
		if (*len < MAX_OUTPUT)
			r = read(fd, buf + *len, MAX_OUTPUT - *len);
		else
			r = read(fd, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
		if (*len < MAX_OUTPUT)
			*len += (size_t)r;
	}
}

/*
 * Runs `HOOK module PHASE` with `secret` (NUL-separated tokens, may be empty)
 * on its stdin, shows what it prints, waits for it until the deadline. Returns
 * its exit status, -1 when it could not be run, -2 when it was killed (logged
 * here).
 */
static int run_helper_now(pam_handle_t *pamh, const struct args *a, const char *user, const char *phase,
			  const char *pam_type, const char *secret, size_t secret_len)
{
	int in[2], out[2], status = 0, done;
	char env_user[128], env_type[64], env_service[128];
	const char *service = NULL;
	char *buf;
	size_t len = 0;
	long deadline = now_ms() + a->timeout_ms;
	pid_t pid;

	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS || service == NULL)
		service = "";
	snprintf(env_user, sizeof(env_user), "PAM_USER=%s", user);
	snprintf(env_type, sizeof(env_type), "PAM_TYPE=%s", pam_type);
	snprintf(env_service, sizeof(env_service), "PAM_SERVICE=%.100s", service);
	char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", env_user, env_type,
			       env_service, NULL };

	buf = malloc(MAX_OUTPUT + 1);
	if (buf == NULL)
		return -1;
	/* a socket, not a pipe, for the secret: send() with MSG_NOSIGNAL cannot raise SIGPIPE in the application */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
		free(buf);
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		free(buf);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		child_exec(a, phase, in[1], out[1], envp);
	close(in[1]);
	close(out[1]);
	if (pid < 0) {
		close(in[0]);
		close(out[0]);
		free(buf);
		return -1;
	}
	if (secret_len > 0 && send_all(in[0], secret, secret_len) != 0)
		pam_syslog(pamh, LOG_ERR, "could not hand the password to %s", a->hook);
	close(in[0]);
	done = read_output(out[0], buf, &len, deadline);
	close(out[0]);
	buf[len] = '\0';
	if (!done || reap_by(pid, &status, deadline) == 0) {
		/* the group: a child the helper started would otherwise run on as root */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		log_err(pamh, phase, user, "%s still running after %d s (stopped or stuck): killed; the login goes on", a->hook,
			a->timeout_ms / 1000);
		if (reap_by(pid, &status, now_ms() + REAP_WAIT_MS) == 0)
			log_err(pamh, phase, user, "%s did not end %d s after SIGKILL; left unreaped", a->hook,
				REAP_WAIT_MS / 1000);
		relay_output(pamh, buf);
		free(buf);
		return -2;
	}
	relay_output(pamh, buf);
	free(buf);
	if (WIFSIGNALED(status)) {
		log_err(pamh, phase, user, "%s ended by signal %d; the login goes on", a->hook, WTERMSIG(status));
		return -2;
	}
	return WEXITSTATUS(status);
}

/* run_helper_now in the user's turn (wait_turn) */
static int run_helper(pam_handle_t *pamh, const struct args *a, const char *user, const char *phase,
		      const char *pam_type, const char *secret, size_t secret_len)
{
	/* the helper of the login holding the turn is killed at its deadline: wait a little longer */
	int rc, wait_ms = a->timeout_ms + REAP_WAIT_MS, turn = wait_turn(pamh, user, wait_ms);

	if (turn == -1) {
		log_err(pamh, phase, user, "another homecrypt login has run for over %d s; not starting the helper",
			wait_ms / 1000);
		return -1;
	}
	rc = run_helper_now(pamh, a, user, phase, pam_type, secret, secret_len);
	if (turn >= 0)
		close(turn);
	return rc;
}

/* The helper runs as root: without root (a screen locker running as the user) there is nothing to do. */
static int have_root(pam_handle_t *pamh, const struct args *a)
{
	if (geteuid() == 0)
		return 1;
	if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "not running as root: nothing to do");
	return 0;
}

static void report(pam_handle_t *pamh, const struct args *a, const char *user, const char *phase, int rc)
{
	if (rc == -1)
		log_err(pamh, phase, user, "could not run %s", a->hook);
	else if (rc > 0)
		log_err(pamh, phase, user, "%s exited %d", a->hook, rc);
	else if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "%s: done", phase);
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	const char *tok = NULL;
	char *copy;
	(void)flags;

	parse_args(pamh, argc, argv, &a);
	if (homecrypt_user(pamh) == NULL)
		return PAM_IGNORE;
	/* only the password an earlier module accepted: never prompt from here */
	if (pam_get_item(pamh, PAM_AUTHTOK, (const void **)&tok) != PAM_SUCCESS || tok == NULL || *tok == '\0' ||
	    strnlen(tok, MAX_TOKEN + 1) > MAX_TOKEN)
		return PAM_IGNORE;
	copy = strdup(tok);
	if (copy == NULL)
		return PAM_IGNORE;
	if (pam_set_data(pamh, DATA_NAME, copy, cleanup_authtok) != PAM_SUCCESS) {
		wipe_free(copy);
		pam_syslog(pamh, LOG_ERR, "could not keep the password for the session");
	}
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	const char *user;
	const void *data = NULL;
	const char *tok = "";
	(void)flags;

	parse_args(pamh, argc, argv, &a);
	if ((user = homecrypt_user(pamh)) == NULL || !have_root(pamh, &a))
		return PAM_IGNORE;
	if (pam_get_data(pamh, DATA_NAME, &data) == PAM_SUCCESS && data != NULL)
		tok = data;
	/* the password and its terminating NUL, as pam_exec's expose_authtok writes it */
	report(pamh, &a, user, "open_session", run_helper(pamh, &a, user, "open_session", "open_session", tok, strlen(tok) + 1));
	/* the key is in the keyring now (or never will be from this password): forget it */
	if (data != NULL)
		pam_set_data(pamh, DATA_NAME, NULL, NULL);
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	const char *user;
	(void)flags;

	parse_args(pamh, argc, argv, &a);
	if ((user = homecrypt_user(pamh)) == NULL || !have_root(pamh, &a))
		return PAM_IGNORE;
	report(pamh, &a, user, "close_session", run_helper(pamh, &a, user, "close_session", "close_session", NULL, 0));
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	const char *user, *old = NULL, *new = NULL;
	char *msg;
	size_t lo, ln;
	int rc;

	parse_args(pamh, argc, argv, &a);
	if ((user = homecrypt_user(pamh)) == NULL || !have_root(pamh, &a))
		return PAM_IGNORE;
	if (!(flags & PAM_UPDATE_AUTHTOK)) {
		/*
		 * The preliminary check, before pam_unix changes the password: the
		 * hook notes the change while the key is at hand, so a change cut
		 * short between pam_unix's update and ours (a crash, our deadline)
		 * is finished at the next login (docs/PAM.md). No password needed.
		 */
		if (flags & PAM_PRELIM_CHECK)
			report(pamh, &a, user, "password_prelim",
			       run_helper(pamh, &a, user, "password_prelim", "password_prelim", NULL, 0));
		return PAM_IGNORE;
	}
	if (pam_get_item(pamh, PAM_OLDAUTHTOK, (const void **)&old) != PAM_SUCCESS || old == NULL)
		old = "";
	if (pam_get_item(pamh, PAM_AUTHTOK, (const void **)&new) != PAM_SUCCESS || new == NULL)
		new = "";
	lo = strnlen(old, MAX_TOKEN + 1);
	ln = strnlen(new, MAX_TOKEN + 1);
	if (lo > MAX_TOKEN || ln > MAX_TOKEN)
		return PAM_IGNORE;
	/* OLD NUL NEW NUL; an empty OLD means none was asked (root setting the password) */
	msg = malloc(lo + ln + 2);
	if (msg == NULL)
		return PAM_IGNORE;
	memcpy(msg, old, lo + 1);
	memcpy(msg + lo + 1, new, ln + 1);
	rc = run_helper(pamh, &a, user, "password", "password", msg, lo + ln + 2);
	explicit_bzero(msg, lo + ln + 2);
	free(msg);
	report(pamh, &a, user, "password", rc);
	return PAM_IGNORE;
}
