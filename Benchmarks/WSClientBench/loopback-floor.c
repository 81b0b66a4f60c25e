// Loopback floor (run.sh): the kernel CPU of one small message each way over TCP on this machine,
// with no WebSocket and no NIO: a forked echo server; the client keeps N connections, each with one
// 31-byte message in flight (epoll, non-blocking), like WSClientBench heartbeat.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>

static void echo_server(int lfd) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    char buf[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                int one = 1; setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event e2 = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
            } else {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r <= 0) { close(fd); continue; }
                write(fd, buf, r);
            }
        }
    }
}

int main(int argc, char **argv) {
    int conns = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 50;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9377)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1; setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (void *)&a, sizeof a) || listen(lfd, 4096)) { perror("listen"); return 1; }
    pid_t child = fork();
    if (child == 0) { echo_server(lfd); return 0; }
    close(lfd);
    int ep = epoll_create1(0);
    int *left = calloc(conns + 100000, sizeof(int));
    const char msg[] = "{\"type\":\"heartbeat\",\"seq\":1}\n";
    for (int i = 0; i < conns; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (void *)&a, sizeof a)) { perror("connect"); return 1; }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        left[c] = rounds;
    }
    struct rusage r0, r1; getrusage(RUSAGE_SELF, &r0);
    long done = 0, total = (long)conns * rounds;
    for (int fd = 0; fd < conns + 100000; fd++) if (left[fd]) write(fd, msg, sizeof msg - 1);
    struct epoll_event evs[256]; char buf[512];
    while (done < total) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (read(fd, buf, sizeof buf) <= 0) continue;
            done++;
            if (--left[fd] > 0) write(fd, msg, sizeof msg - 1);
        }
    }
    getrusage(RUSAGE_SELF, &r1);
    double u = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec);
    double s = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    printf("loopback floor: %ld round trips over %d connections: client CPU %.2f us per round trip (user %.2f, system %.2f)\n",
           done, conns, (u + s) / done, u / done, s / done);
    kill(child, SIGKILL); waitpid(child, NULL, 0);
    return 0;
}
