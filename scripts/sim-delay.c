/*
 * sim-delay: holds every packet of one netfilter queue for a fixed time, then accepts it, in arrival
 * order. scripts/sim-hosts.sh runs one in each simulated host's network namespace, behind the rule
 * `iptables -t mangle -A POSTROUTING -o eth0 -j NFQUEUE --queue-num N`, on kernels without the netem
 * queueing discipline: each host's outgoing packets then leave MS ms late, as under
 * `tc qdisc add dev eth0 root netem delay MSms`.
 *
 * Like netem's `limit` (1000 packets by default), at most --limit packets wait; a packet that finds the
 * queue full is dropped. On SIGTERM or SIGINT every waiting packet is accepted at once and the program
 * exits 0. Built by sim-hosts.sh: gcc -O2 -o sim-delay sim-delay.c -lnetfilter_queue -lnfnetlink
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One waiting packet: its queue id and when its verdict is due (CLOCK_MONOTONIC, ns). */
struct held {
    uint32_t id;
    uint64_t due_ns;
};

static struct held *ring;
static size_t ring_cap, ring_head, ring_len;
static uint64_t delay_ns;
static unsigned long dropped;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: sim-delay --queue N --delay-ms MS [--limit PACKETS]\n"
            "\n"
            "Holds each packet of netfilter queue N for MS ms after it arrives, then accepts it; packets\n"
            "leave in the order they came. At most PACKETS wait (default 1000, as netem's limit); one more\n"
            "is dropped. SIGTERM or SIGINT accepts every waiting packet and exits 0.\n"
            "Run it in the network namespace whose iptables rule sends packets to queue N (NFQUEUE).\n");
}

/* Records a packet the kernel queued: due MS ms from now, or dropped when the ring is full. */
static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
    (void)msg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (ring_len == ring_cap) {
        dropped++;
        return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
    }
    ring[(ring_head + ring_len) % ring_cap] = (struct held){id, now_ns() + delay_ns};
    ring_len++;
    return 0;
}

/*
 * Accepts every waiting packet due by `until` with one batch verdict (it covers every id up to the
 * last one: ids grow in arrival order, and packets dropped above already have theirs).
 */
static void release_due(struct nfq_q_handle *qh, uint64_t until)
{
    uint32_t last = 0;
    int any = 0;
    while (ring_len > 0 && ring[ring_head].due_ns <= until) {
        last = ring[ring_head].id;
        any = 1;
        ring_head = (ring_head + 1) % ring_cap;
        ring_len--;
    }
    if (any && nfq_set_verdict_batch(qh, last, NF_ACCEPT) < 0)
        fprintf(stderr, "sim-delay: verdict up to id %u failed: %s\n", last, strerror(errno));
}

/* Reads every message waiting on the queue's socket without blocking. */
static int drain_socket(struct nfq_handle *h, int fd, char *buf, size_t size)
{
    for (;;) {
        ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
        if (n > 0) {
            nfq_handle_packet(h, buf, (int)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        if (n < 0 && errno == ENOBUFS) {
            /* Messages were lost: their packets wait in the kernel without a verdict until the
             * queue is torn down. Said loudly; the receive buffer is sized so this stays rare. */
            fprintf(stderr, "sim-delay: netlink receive buffer overrun (ENOBUFS)\n");
            continue;
        }
        fprintf(stderr, "sim-delay: recv: %s\n", n < 0 ? strerror(errno) : "socket closed");
        return -1;
    }
}

static int parse_args(int argc, char **argv, int *queue, long *delay_ms, long *limit)
{
    static const struct option opts[] = {{"queue", required_argument, 0, 'q'},
                                         {"delay-ms", required_argument, 0, 'd'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "q:d:l:h", opts, NULL)) != -1) {
        long v = 0;
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (c == '?') return -1;
        errno = 0;
        v = strtol(optarg, &end, 10);
        if (errno || *end || v < 0) {
            fprintf(stderr, "sim-delay: --%s needs a whole number >= 0, not '%s'\n",
                    c == 'q' ? "queue" : c == 'd' ? "delay-ms" : "limit", optarg);
            return -1;
        }
        if (c == 'q') *queue = (int)v;
        if (c == 'd') *delay_ms = v;
        if (c == 'l') *limit = v;
    }
    if (*queue < 0 || *queue > 65535 || *delay_ms < 0 || *delay_ms > 60000 || *limit < 1) {
        fprintf(stderr, "sim-delay: needs --queue 0..65535, --delay-ms 0..60000 and --limit >= 1\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int queue = -1;
    long delay_ms = -1, limit = 1000;
    if (parse_args(argc, argv, &queue, &delay_ms, &limit) < 0) {
        usage(stderr);
        return 2;
    }
    delay_ns = (uint64_t)delay_ms * 1000000u;
    ring_cap = (size_t)limit;
    ring = calloc(ring_cap, sizeof *ring);
    if (!ring) return 1;

    struct nfq_handle *h = nfq_open();
    if (!h) {
        perror("sim-delay: nfq_open");
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
    if (!qh) {
        fprintf(stderr, "sim-delay: cannot bind queue %d (another program holds it?): %s\n", queue, strerror(errno));
        nfq_close(h);
        return 1;
    }
    /* Metadata only (the verdict needs the id, not the payload); GSO packets as they are, not
     * segmented for us; the kernel's own queue bounded as ours, so nothing waits uncounted. */
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, (uint32_t)limit) < 0 ||
        nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
        perror("sim-delay: configuring the queue");
        nfq_destroy_queue(qh);
        nfq_close(h);
        return 1;
    }
    int fd = nfq_fd(h);
    /* Wake-ups on time, not up to the default 50 us late: the delay is the point of the program. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    static char buf[1 << 16];
    int rc = 0;
    fprintf(stderr, "sim-delay: queue %d, %ld ms, limit %ld\n", queue, delay_ms, limit);
    while (!stopping) {
        uint64_t now = now_ns();
        release_due(qh, now);
        struct timespec wait = {1, 0};
        if (ring_len > 0) {
            uint64_t left = ring[ring_head].due_ns - now;
            wait.tv_sec = (time_t)(left / 1000000000u);
            wait.tv_nsec = (long)(left % 1000000000u);
        }
        struct pollfd p = {fd, POLLIN, 0};
        int ready = ppoll(&p, 1, &wait, NULL);
        if (ready < 0 && errno != EINTR) {
            perror("sim-delay: ppoll");
            rc = 1;
            break;
        }
        if (ready > 0 && drain_socket(h, fd, buf, sizeof buf) < 0) {
            rc = 1;
            break;
        }
    }
    /* Whatever still waits leaves now rather than being dropped with the queue. */
    release_due(qh, UINT64_MAX);
    fprintf(stderr, "sim-delay: stopped (%lu dropped at the limit)\n", dropped);
    nfq_destroy_queue(qh);
    nfq_close(h);
    free(ring);
    return rc;
}
