// The cost of a FUSE round trip over each transport this kernel has: the
// /dev/fuse read-and-write loop every FUSE server uses today (homecrypt's
// bridge included), and FUSE over io_uring (Linux 6.14+, module parameter
// fuse.enable_uring), where the server gets requests as completions of
// io_uring commands and sends each reply with the command that fetches the
// next one. A measurement for a decision (docs/BENCHMARKS.md, session 12), not
// a part of homecrypt: a filesystem of N empty files in its root, served by one
// thread that does nothing but answer, and a client that stat()s them with
// every cache timeout 0, so each stat is a LOOKUP and a GETATTR round trip.
// Usage (root): fuse-transport dev|uring MOUNTPOINT [FILES] [ROUNDS]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// the io_uring transport's ABI (include/uapi/linux/fuse.h of 6.14+; Debian
// bookworm's headers are older)
#define OVER_IO_URING_FLAGS2 (1u << 9) /* FUSE_OVER_IO_URING, 1ULL << 41 */
#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2
struct uring_ent_in_out {
  uint64_t flags, commit_id;
  uint32_t payload_sz, padding;
  uint64_t reserved;
};
struct uring_req_header {
  char in_out[128];
  char op_in[128];
  struct uring_ent_in_out ent;
};
struct uring_cmd_req {
  uint64_t flags, commit_id;
  uint16_t qid;
  uint8_t padding[6];
};

#define MAX_WRITE (128 * 1024)
#define ROOT 1
static int files = 1000;

static void die(const char *what) {
  fprintf(stderr, "fuse-transport: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void attr_of(uint64_t ino, struct fuse_attr *a) {
  memset(a, 0, sizeof *a);
  a->ino = ino;
  a->mode = ino == ROOT ? S_IFDIR | 0755 : S_IFREG | 0644;
  a->nlink = ino == ROOT ? 2 : 1;
  a->blksize = 4096;
}

/**
 * Answers one request: `in` is its header, `op` its fixed op struct, `rest`
 * what follows (a LOOKUP's name). Writes the reply's arguments into `out`;
 * returns their length, or a negative errno.
 */
static int answer(const struct fuse_in_header *in, const void *op, const char *rest, void *out) {
  (void)op;
  switch (in->opcode) {
    case FUSE_LOOKUP: {
      if (in->nodeid != ROOT || rest[0] != 'f') return -ENOENT;
      int n = atoi(rest + 1);
      if (n < 0 || n >= files) return -ENOENT;
      struct fuse_entry_out *e = out;
      memset(e, 0, sizeof *e);
      e->nodeid = 2 + (uint64_t)n;
      e->generation = 1;
      attr_of(e->nodeid, &e->attr);
      return sizeof *e;
    }
    case FUSE_GETATTR: {
      struct fuse_attr_out *a = out;
      memset(a, 0, sizeof *a);
      attr_of(in->nodeid, &a->attr);
      return sizeof *a;
    }
    case FUSE_STATFS: {
      memset(out, 0, sizeof(struct fuse_statfs_out));
      return sizeof(struct fuse_statfs_out);
    }
    default:
      return -ENOSYS;
  }
}

static int init_reply(int fd, char *buf, int uring) {
  ssize_t n = read(fd, buf, MAX_WRITE + 4096);
  if (n < 0) die("read INIT");
  struct fuse_in_header *in = (void *)buf;
  struct fuse_init_in *ii = (void *)(buf + sizeof *in);
  if (in->opcode != FUSE_INIT) return -1;
  struct {
    struct fuse_out_header h;
    struct fuse_init_out o;
  } r;
  memset(&r, 0, sizeof r);
  r.h.len = sizeof r;
  r.h.unique = in->unique;
  r.o.major = 7;
  r.o.minor = 42;
  r.o.max_readahead = ii->max_readahead;
  r.o.flags = FUSE_INIT_EXT | FUSE_MAX_PAGES;
  r.o.max_write = MAX_WRITE;
  r.o.max_pages = MAX_WRITE / 4096;
  r.o.max_background = 16;
  r.o.congestion_threshold = 12;
  r.o.time_gran = 1;
  r.o.flags2 = uring ? OVER_IO_URING_FLAGS2 : 0;
  uint32_t kflags2 = (ii->flags & FUSE_INIT_EXT) ? ii->flags2 : 0;
  if (uring && !(kflags2 & OVER_IO_URING_FLAGS2)) {
    fprintf(stderr, "fuse-transport: the kernel does not offer FUSE over io_uring (echo Y > /sys/module/fuse/parameters/enable_uring)\n");
    return -1;
  }
  if (write(fd, &r, sizeof r) != sizeof r) die("write INIT");
  return 0;
}

// the /dev/fuse loop: one read, one write per request
static void serve_dev(int fd) {
  char *buf = malloc(MAX_WRITE + 4096), out[4096];
  if (init_reply(fd, buf, 0)) exit(1);
  for (;;) {
    ssize_t n = read(fd, buf, MAX_WRITE + 4096);
    if (n < 0) {
      if (errno == ENOENT || errno == EINTR || errno == EAGAIN) continue;
      if (errno == ENODEV) exit(0);
      die("read");
    }
    struct fuse_in_header *in = (void *)buf;
    if (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET) continue;
    const char *op = buf + sizeof *in;
    int len = answer(in, op, op, out + sizeof(struct fuse_out_header));
    struct fuse_out_header *h = (void *)out;
    h->unique = in->unique;
    h->error = len < 0 ? len : 0;
    h->len = sizeof *h + (len < 0 ? 0 : len);
    if (write(fd, out, h->len) < 0 && errno != ENOENT) die("write");
  }
}

// io_uring, by system calls (no liburing in Debian bookworm's default set)
struct ring {
  int fd;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes; // 128 bytes each (SQE128): index with sqe_at
  struct io_uring_cqe *cqes;
  unsigned pending;
};

static struct io_uring_sqe *sqe_at(struct ring *r, unsigned i) { return (void *)((char *)r->sqes + 128 * i); }

static void ring_setup(struct ring *r, unsigned entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SQE128;
  r->fd = syscall(__NR_io_uring_setup, entries, &p);
  if (r->fd < 0) die("io_uring_setup");
  char *sq = mmap(0, p.sq_off.array + p.sq_entries * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  char *cq = mmap(0, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                  IORING_OFF_CQ_RING);
  r->sqes = mmap(0, p.sq_entries * 128, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) die("mmap ring");
  r->sq_head = (void *)(sq + p.sq_off.head);
  r->sq_tail = (void *)(sq + p.sq_off.tail);
  r->sq_mask = (void *)(sq + p.sq_off.ring_mask);
  r->sq_array = (void *)(sq + p.sq_off.array);
  r->cq_head = (void *)(cq + p.cq_off.head);
  r->cq_tail = (void *)(cq + p.cq_off.tail);
  r->cq_mask = (void *)(cq + p.cq_off.ring_mask);
  r->cqes = (void *)(cq + p.cq_off.cqes);
  r->pending = 0;
}

struct entry {
  struct uring_req_header hdr;
  struct iovec iov[2];
  char *payload;
  uint16_t qid;
};

static void push_cmd(struct ring *r, int fusefd, struct entry *e, unsigned cmd_op, uint64_t commit_id, uint64_t user_data) {
  unsigned tail = *r->sq_tail, i = tail & *r->sq_mask;
  struct io_uring_sqe *s = sqe_at(r, i);
  memset(s, 0, 128);
  s->opcode = IORING_OP_URING_CMD;
  s->fd = fusefd;
  s->cmd_op = cmd_op;
  s->addr = (uint64_t)(uintptr_t)e->iov;
  s->len = 2;
  s->user_data = user_data;
  struct uring_cmd_req *c = (void *)((char *)s + 48);
  c->commit_id = commit_id;
  c->qid = e->qid;
  r->sq_array[i] = i;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  r->pending++;
}

static void serve_uring(int fd) {
  char *buf = malloc(MAX_WRITE + 4096);
  if (init_reply(fd, buf, 1)) exit(1);
  int queues = get_nprocs_conf(), per = 2, n = queues * per;
  struct ring r;
  ring_setup(&r, 64);
  struct entry *ents = calloc(n, sizeof *ents);
  for (int i = 0; i < n; i++) {
    struct entry *e = &ents[i];
    e->qid = i / per;
    e->payload = aligned_alloc(4096, MAX_WRITE);
    e->iov[0] = (struct iovec){&e->hdr, sizeof e->hdr};
    e->iov[1] = (struct iovec){e->payload, MAX_WRITE};
    push_cmd(&r, fd, e, URING_CMD_REGISTER, 0, i);
  }
  // FORGETs still come through /dev/fuse: left unread (the kernel keeps them queued)
  for (;;) {
    int got = syscall(__NR_io_uring_enter, r.fd, r.pending, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      die("io_uring_enter");
    }
    r.pending = 0;
    unsigned head = *r.cq_head;
    while (head != __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE)) {
      struct io_uring_cqe *c = &r.cqes[head & *r.cq_mask];
      head++;
      struct entry *e = &ents[c->user_data];
      if (c->res < 0) {
        if (c->res == -ENOTCONN || c->res == -ENODEV) exit(0);
        errno = -c->res;
        die("io_uring command");
      }
      struct fuse_in_header *in = (void *)e->hdr.in_out;
      // arguments after the op struct come in the payload (a LOOKUP's name: its op struct is empty)
      const char *rest = e->hdr.ent.payload_sz ? e->payload : e->hdr.op_in;
      int len = answer(in, e->hdr.op_in, rest, e->payload);
      struct fuse_out_header *h = (void *)e->hdr.in_out;
      uint64_t unique = in->unique;
      h->unique = unique;
      h->error = len < 0 ? len : 0;
      h->len = sizeof *h + (len < 0 ? 0 : len);
      e->hdr.ent.payload_sz = len < 0 ? 0 : len;
      push_cmd(&r, fd, e, URING_CMD_COMMIT_AND_FETCH, e->hdr.ent.commit_id, c->user_data);
    }
    __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
  }
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fuse-transport dev|uring MOUNTPOINT [FILES] [ROUNDS]\n");
    return 2;
  }
  int uring = strcmp(argv[1], "uring") == 0;
  const char *mnt = argv[2];
  if (argc > 3) files = atoi(argv[3]);
  int rounds = argc > 4 ? atoi(argv[4]) : 20;
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("/dev/fuse");
  char opts[128];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
  if (mount("fuse-transport", mnt, "fuse.transport", MS_NOSUID | MS_NODEV, opts)) die("mount");
  pid_t server = fork();
  if (server == 0) {
    if (uring) serve_uring(fd);
    else serve_dev(fd);
    return 0;
  }
  close(fd);
  char path[4096];
  struct stat st;
  // warm up both sides, then time ROUNDS passes over every name
  for (int i = 0; i < files; i++) {
    snprintf(path, sizeof path, "%s/f%d", mnt, i);
    if (stat(path, &st)) die(path);
  }
  double t0 = now();
  for (int k = 0; k < rounds; k++)
    for (int i = 0; i < files; i++) {
      snprintf(path, sizeof path, "%s/f%d", mnt, i);
      if (stat(path, &st)) die(path);
    }
  double dt = now() - t0;
  printf("%s: %d stat() in %.3f s: %.2f us each (a LOOKUP and a GETATTR)\n", argv[1], files * rounds, dt, dt * 1e6 / (files * rounds));
  umount2(mnt, MNT_DETACH);
  kill(server, SIGKILL);
  waitpid(server, NULL, 0);
  return 0;
}
