/* A network guard for tests, loaded into every process with LD_PRELOAD.
 *
 * It wraps the libc calls through which any program (Python, Rust or C code alike)
 * reaches the network: connect, sendto and sendmsg to an address that is not
 * loopback, and name lookups (getaddrinfo, gethostbyname*) of a name that is not
 * local. Each attempt is appended to the file named by $NETGUARD_LOG and refused
 * (ECONNREFUSED / "host not found"); loopback and Unix sockets pass untouched, and so does
 * an "ip:port" listed in $NETGUARD_ALLOW (the servers a test configured, nothing more).
 * $NETGUARD_LOADS, when set, gets one line per process that loaded the guard.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void record(const char *what, const char *detail) {
    const char *path = getenv("NETGUARD_LOG");
    if (!path) return;
    char line[640];
    char comm[64] = "?";
    int cfd = open("/proc/self/comm", O_RDONLY);
    if (cfd >= 0) {
        ssize_t got = read(cfd, comm, sizeof comm - 1);
        close(cfd);
        comm[got > 0 ? got : 0] = 0;
        for (char *c = comm; *c; c++) if (*c == '\n' || *c == ' ') *c = 0;
    }
    int n = snprintf(line, sizeof line, "%s %s pid=%d comm=%s\n", what, detail, (int)getpid(), comm);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        if (n > 0) (void)!write(fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
        close(fd);
    }
}

__attribute__((constructor)) static void announce(void) {
    const char *path = getenv("NETGUARD_LOADS");
    if (!path) return;
    char exe[256] = {0}, line[400];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) strcpy(exe, "?");
    int n = snprintf(line, sizeof line, "loaded pid=%d exe=%s\n", (int)getpid(), exe);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        if (n > 0) (void)!write(fd, line, (size_t)n);
        close(fd);
    }
}

/* 1 when "ip:port" (as allowed() formats it) is listed in $NETGUARD_ALLOW (comma-separated):
 * the exact servers a test configured, e.g. a team store on this machine's LAN address. */
static int listed(const char *text) {
    const char *list = getenv("NETGUARD_ALLOW");
    size_t len = strlen(text);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        if (n == len && !strncmp(list, text, n)) return 1;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

/* 1 when the address may be reached: loopback, unspecified (this host), Unix or other families. */
static int allowed(const struct sockaddr *addr, socklen_t len, char *text, size_t size) {
    snprintf(text, size, "?");
    if (!addr) return 1;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        uint32_t ip = ntohl(in->sin_addr.s_addr);
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(text, size, "%s:%d", host, ntohs(in->sin_port));
        return (ip >> 24) == 127 || ip == 0 || listed(text);
    }
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        char host[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(text, size, "[%s]:%d", host, ntohs(in6->sin6_port));
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127 || listed(text);
        return listed(text);
    }
    return 1;
}

static int local_name(const char *name) {
    if (!name || !*name) return 1;
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1) return 1; /* numeric: connect decides */
    if (!strcasecmp(name, "localhost") || !strcasecmp(name, "localhost.localdomain")) return 1;
    size_t len = strlen(name);
    if (len > 10 && !strcasecmp(name + len - 10, ".localhost")) return 1;
    char self[256] = {0};
    return gethostname(self, sizeof self - 1) == 0 && !strcasecmp(name, self);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    char text[128];
    if (!allowed(addr, len, text, sizeof text)) {
        record("connect", text);
        errno = ECONNREFUSED;
        return -1;
    }
    return real(fd, addr, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len) {
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "sendto");
    char text[128];
    if (addr && !allowed(addr, len, text, sizeof text)) {
        record("sendto", text);
        errno = ECONNREFUSED;
        return -1;
    }
    return real(fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (!real) real = dlsym(RTLD_NEXT, "sendmsg");
    char text[128];
    if (msg && msg->msg_name && !allowed(msg->msg_name, msg->msg_namelen, text, sizeof text)) {
        record("sendmsg", text);
        errno = ECONNREFUSED;
        return -1;
    }
    return real(fd, msg, flags);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    if (!real) real = dlsym(RTLD_NEXT, "getaddrinfo");
    if (!local_name(node)) {
        record("getaddrinfo", node);
        return EAI_NONAME;
    }
    return real(node, service, hints, res);
}

struct hostent *gethostbyname(const char *name) {
    static struct hostent *(*real)(const char *);
    if (!real) real = dlsym(RTLD_NEXT, "gethostbyname");
    if (!local_name(name)) {
        record("gethostbyname", name);
        h_errno = HOST_NOT_FOUND;
        return NULL;
    }
    return real(name);
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len, struct hostent **result, int *err) {
    static int (*real)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
    if (!real) real = dlsym(RTLD_NEXT, "gethostbyname_r");
    if (!local_name(name)) {
        record("gethostbyname_r", name);
        *result = NULL;
        if (err) *err = HOST_NOT_FOUND;
        return ENOENT;
    }
    return real(name, ret, buf, len, result, err);
}

int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len, struct hostent **result, int *err) {
    static int (*real)(const char *, int, struct hostent *, char *, size_t, struct hostent **, int *);
    if (!real) real = dlsym(RTLD_NEXT, "gethostbyname2_r");
    if (!local_name(name)) {
        record("gethostbyname2_r", name);
        *result = NULL;
        if (err) *err = HOST_NOT_FOUND;
        return ENOENT;
    }
    return real(name, af, ret, buf, len, result, err);
}
