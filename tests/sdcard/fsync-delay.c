/*
 * fsync-delay: an SD-card-class disk for tests and benchmarks, as an LD_PRELOAD library.
 *
 * Every call that waits for data to reach the disk takes at least SITEBOX_FSYNC_DELAY_US
 * microseconds: fsync, fdatasync, syncfs, sync, msync with MS_SYNC and sync_file_range with
 * a WAIT flag. The real call runs first; the shim then sleeps for what is left of the
 * latency. Calls are served one at a time (one mutex per process), as a card's single
 * command queue serves them, so two threads syncing at once wait for each other.
 *
 * With SITEBOX_FSYNC_COUNTS=FILE it counts into FILE (created if missing, shared between
 * processes, read while it runs: eight little-endian u64s, see `struct counts`).
 *
 * Not covered: writes to files opened with O_SYNC/O_DSYNC (SQLite and siteboxd use neither)
 * and statically linked programs.
 *
 * Build: cc -shared -fPIC -O2 -o libfsync-delay.so fsync-delay.c -ldl -lpthread
 * Use:   LD_PRELOAD=$PWD/libfsync-delay.so SITEBOX_FSYNC_DELAY_US=10000 siteboxd run
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct counts {
    uint64_t calls;      /* every intercepted call that waited */
    uint64_t fsync;      /* fsync */
    uint64_t fdatasync;  /* fdatasync */
    uint64_t other;      /* syncfs, sync, msync, sync_file_range */
    uint64_t slept_ns;   /* time the shim added */
    uint64_t busy_ns;    /* time inside the real calls, plus the added time */
    uint64_t delay_us;   /* the configured latency (the last process to start wins) */
    uint64_t reserved;
};

static struct counts local_counts;
static struct counts *counts = &local_counts;
static uint64_t delay_ns;
static pthread_mutex_t card = PTHREAD_MUTEX_INITIALIZER;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_msync)(void *, size_t, int);
static int (*real_sync_file_range)(int, off64_t, off64_t, unsigned int);

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

__attribute__((constructor)) static void setup(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_syncfs = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    real_sync = (void (*)(void))dlsym(RTLD_NEXT, "sync");
    real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    real_sync_file_range =
        (int (*)(int, off64_t, off64_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    const char *delay = getenv("SITEBOX_FSYNC_DELAY_US");
    if (delay != NULL) {
        delay_ns = strtoull(delay, NULL, 10) * 1000u;
    }
    const char *path = getenv("SITEBOX_FSYNC_COUNTS");
    if (path != NULL && *path != '\0') {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size < (off_t)sizeof(struct counts)) {
                if (ftruncate(fd, sizeof(struct counts)) != 0) {
                    close(fd);
                    fd = -1;
                }
            }
            if (fd >= 0) {
                void *shared = mmap(NULL, sizeof(struct counts), PROT_READ | PROT_WRITE,
                                    MAP_SHARED, fd, 0);
                if (shared != MAP_FAILED) {
                    counts = shared;
                }
                close(fd);
            }
        }
    }
    __atomic_store_n(&counts->delay_us, delay_ns / 1000u, __ATOMIC_RELAXED);
}

/* Runs before the real call: takes the card. */
static uint64_t begin(void) {
    pthread_mutex_lock(&card);
    return now_ns();
}

/* Runs after it: waits out the rest of the latency, counts, gives the card back. */
static void end(uint64_t started, uint64_t *kind) {
    int saved = errno;
    uint64_t spent = now_ns() - started;
    uint64_t slept = 0;
    if (spent < delay_ns) {
        uint64_t left = delay_ns - spent;
        struct timespec wait = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
        }
        slept = left;
    }
    __atomic_fetch_add(&counts->calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(kind, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counts->slept_ns, slept, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counts->busy_ns, now_ns() - started, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&card);
    errno = saved;
}

int fsync(int fd) {
    uint64_t started = begin();
    int result = real_fsync(fd);
    end(started, &counts->fsync);
    return result;
}

int fdatasync(int fd) {
    uint64_t started = begin();
    int result = real_fdatasync(fd);
    end(started, &counts->fdatasync);
    return result;
}

int syncfs(int fd) {
    uint64_t started = begin();
    int result = real_syncfs(fd);
    end(started, &counts->other);
    return result;
}

void sync(void) {
    uint64_t started = begin();
    real_sync();
    end(started, &counts->other);
}

int msync(void *addr, size_t length, int flags) {
    if (!(flags & MS_SYNC)) {
        return real_msync(addr, length, flags);
    }
    uint64_t started = begin();
    int result = real_msync(addr, length, flags);
    end(started, &counts->other);
    return result;
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    if (!(flags & (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER))) {
        return real_sync_file_range(fd, offset, nbytes, flags);
    }
    uint64_t started = begin();
    int result = real_sync_file_range(fd, offset, nbytes, flags);
    end(started, &counts->other);
    return result;
}
