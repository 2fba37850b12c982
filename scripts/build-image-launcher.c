/*
 * shadowplane launcher: bin/shadowplane of the self-contained runtime directory.
 *
 * It runs in images without a libc, a shell or a dynamic loader (scratch, distroless,
 * alpine), so it is a static x86-64 executable without any libc (raw system calls), and
 * it starts Node through the runtime's own glibc loader:
 *
 *   ROOT/lib/ld-linux-x86-64.so.2 --inhibit-cache --library-path ROOT/lib
 *       --argv0 ARGV0 ROOT/lib/node ROOT/app/dist/cli/main.mjs ARGS...
 *
 * ROOT is the directory above bin/, found from /proc/self/exe (else from an absolute
 * argv[0]), so the same runtime works at /opt/shadowplane in the agent image and at
 * /shadowplane in a workload container. --library-path and --inhibit-cache apply to the
 * loader alone: the environment (LD_LIBRARY_PATH, the image's ld.so.cache) is neither
 * used for node nor changed for the workload the agent starts.
 *
 * For `shadowplane agent`, the container's NODE_OPTIONS, LD_PRELOAD and LD_AUDIT are meant
 * for the workload, not for the agent's own Node (a workload's --inspect, --require or preloaded
 * library would otherwise open a debugger on, or load code into, the agent). The launcher
 * hands them on renamed to SHADOWPLANE_WORKLOAD_NODE_OPTIONS, SHADOWPLANE_WORKLOAD_LD_PRELOAD
 * and SHADOWPLANE_WORKLOAD_LD_AUDIT, and the agent gives them back to the workload and to
 * exec'd commands under their own names. The proxy keeps NODE_OPTIONS (its Deployment
 * sets it).
 *
 * As PID 1 of its PID namespace (the container's entrypoint, with no init in the pod),
 * `shadowplane agent` would leave Node as PID 1, and Node reaps only the children it
 * spawned: every orphaned grandchild (a daemonising tool in `kubectl exec`) would stay a
 * zombie. So there the launcher stays as a minimal init, as tini does: it runs Node as
 * its child with all signals blocked in itself, forwards every signal it receives to
 * that child, reaps every child that exits, and exits as Node did (status, or 128 + the
 * signal). Anywhere else it replaces itself with Node, as before.
 *
 * Build (deterministic): gcc -static -nostdlib -no-pie -O2 -ffreestanding -fno-builtin
 *   -fno-tree-loop-distribute-patterns -fno-stack-protector
 *   -fno-asynchronous-unwind-tables -fno-ident -Wl,--build-id=none -s -o shadowplane launcher.c
 */
#define SYS_write 1
#define SYS_rt_sigprocmask 14
#define SYS_getpid 39
#define SYS_fork 57
#define SYS_execve 59
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_readlink 89
#define SYS_rt_sigtimedwait 128
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGSTOP 19
#define SIGCHLD 17
#define WNOHANG 1
#define EINTR 4
#define PATH_MAX_LEN 4096
#define MAX_ARGS 65536

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

static long sys4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return r;
}

__asm__(".text\n.global _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call launcher_main\n  hlt\n");

static unsigned long length(const char *s) {
  unsigned long n = 0;
  while (s[n] != 0) n++;
  return n;
}

static void fail(const char *message) {
  static const char prefix[] = "shadowplane launcher: ";
  sys3(SYS_write, 2, (long)prefix, sizeof prefix - 1);
  sys3(SYS_write, 2, (long)message, (long)length(message));
  sys3(SYS_write, 2, (long)"\n", 1);
  sys3(SYS_exit, 127, 0, 0);
  for (;;) {
  }
}

static char root[PATH_MAX_LEN];
static char loader[PATH_MAX_LEN];
static char libdir[PATH_MAX_LEN];
static char node[PATH_MAX_LEN];
static char script[PATH_MAX_LEN];
static const char *args[MAX_ARGS + 16];
#define MOVED_VALUE_MAX 65536
static char moved_node_options[sizeof "SHADOWPLANE_WORKLOAD_NODE_OPTIONS=" + MOVED_VALUE_MAX];
static char moved_ld_preload[sizeof "SHADOWPLANE_WORKLOAD_LD_PRELOAD=" + MOVED_VALUE_MAX];
static char moved_ld_audit[sizeof "SHADOWPLANE_WORKLOAD_LD_AUDIT=" + MOVED_VALUE_MAX];

static int same(const char *a, const char *b) {
  while (*a != 0 && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* Whether s starts with prefix. */
static int starts(const char *s, const char *prefix) {
  while (*prefix != 0 && *s == *prefix) {
    s++;
    prefix++;
  }
  return *prefix == 0;
}

/* Renames NAME=V to NEW_NAME=V (NEW_NAME ending in '=') in envp, writing into buffer. */
static void move_aside(char **envp, const char *name, const char *new_name, char *buffer) {
  for (long i = 0; envp[i] != 0; i++) {
    if (!starts(envp[i], name)) continue;
    const char *value = envp[i] + length(name);
    unsigned long v = length(value);
    if (v > MOVED_VALUE_MAX) fail("environment value too long");
    unsigned long k = 0;
    for (; new_name[k] != 0; k++) buffer[k] = new_name[k];
    for (unsigned long j = 0; j <= v; j++) buffer[k + j] = value[j];
    envp[i] = buffer;
    return;
  }
}

/* dst = root + suffix; fails when it does not fit. */
static void join(char *dst, const char *suffix) {
  unsigned long r = length(root), s = length(suffix);
  if (r + s + 1 > PATH_MAX_LEN) fail("runtime path too long");
  for (unsigned long i = 0; i < r; i++) dst[i] = root[i];
  for (unsigned long i = 0; i <= s; i++) dst[r + i] = suffix[i];
}

/* Cuts the last path component: "/a/b/c" -> "/a/b". */
static void dirname_in_place(char *p) {
  unsigned long n = length(p);
  while (n > 1 && p[n - 1] != '/') n--;
  if (n > 1) n--;
  p[n] = 0;
}

/* The exit status a shell would give: the status, or 128 + the signal that ended it. */
static long exit_code(int status) {
  int sig = status & 0x7f;
  return sig == 0 ? (status >> 8) & 0xff : 128 + sig;
}

/* PID 1: run the program as a child, forward signals to it, reap everything, exit as it did. */
static void init_exec(const char *path, const char **argv, char **envp) {
  unsigned long blocked = ~0UL & ~(1UL << (SIGKILL - 1)) & ~(1UL << (SIGSTOP - 1));
  unsigned long previous = 0;
  /* Blocked signals are queued for sigtimedwait, even for PID 1 with no handlers. */
  if (sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&blocked, (long)&previous, 8) < 0) fail("cannot block signals");
  long child = sys3(SYS_fork, 0, 0, 0);
  if (child < 0) fail("cannot fork");
  if (child == 0) {
    sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&previous, 0, 8);
    sys3(SYS_execve, (long)path, (long)argv, (long)envp);
    fail("cannot execute the runtime's loader");
  }
  for (;;) {
    long sig = sys4(SYS_rt_sigtimedwait, (long)&blocked, 0, 0, 8);
    if (sig == -EINTR || sig < 0) continue;
    if (sig != SIGCHLD) {
      sys3(SYS_kill, child, sig, 0);
      continue;
    }
    for (;;) {
      int status = 0;
      long pid = sys4(SYS_wait4, -1, (long)&status, WNOHANG, 0);
      if (pid <= 0) break;
      if (pid == child) sys3(SYS_exit, exit_code(status), 0, 0);
    }
  }
}

__attribute__((used)) void launcher_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  long n = sys3(SYS_readlink, (long)"/proc/self/exe", (long)root, PATH_MAX_LEN - 1);
  if (n > 0) {
    root[n] = 0;
  } else if (argc > 0 && argv[0][0] == '/') {
    unsigned long a = length(argv[0]);
    if (a + 1 > PATH_MAX_LEN) fail("argv[0] too long");
    for (unsigned long i = 0; i <= a; i++) root[i] = argv[0][i];
  } else {
    fail("cannot find the runtime directory (no /proc/self/exe and argv[0] is not absolute)");
  }
  dirname_in_place(root); /* .../bin */
  dirname_in_place(root); /* the runtime root */
  join(loader, "/lib/ld-linux-x86-64.so.2");
  join(libdir, "/lib");
  join(node, "/lib/node");
  join(script, "/app/dist/cli/main.mjs");
  if (argc > MAX_ARGS) fail("too many arguments");
  long k = 0;
  args[k++] = loader;
  args[k++] = "--inhibit-cache";
  args[k++] = "--library-path";
  args[k++] = libdir;
  args[k++] = "--argv0";
  args[k++] = argc > 0 ? argv[0] : "shadowplane";
  args[k++] = node;
  args[k++] = script;
  for (long i = 1; i < argc; i++) args[k++] = argv[i];
  args[k] = 0;
  if (argc >= 2 && same(argv[1], "agent")) {
    move_aside(envp, "NODE_OPTIONS=", "SHADOWPLANE_WORKLOAD_NODE_OPTIONS=", moved_node_options);
    move_aside(envp, "LD_PRELOAD=", "SHADOWPLANE_WORKLOAD_LD_PRELOAD=", moved_ld_preload);
    move_aside(envp, "LD_AUDIT=", "SHADOWPLANE_WORKLOAD_LD_AUDIT=", moved_ld_audit);
    if (sys3(SYS_getpid, 0, 0, 0) == 1) init_exec(loader, args, envp);
  }
  sys3(SYS_execve, (long)loader, (long)args, (long)envp);
  fail("cannot execute the runtime's loader");
}
