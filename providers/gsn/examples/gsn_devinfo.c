/* SPDX-License-Identifier: MIT */
/*
 * gsn_devinfo: what ibv_devinfo shows, for gsn devices.
 *
 *   gsn_devinfo [-d DEVICE] [-i PORT] [-l] [-v]
 *
 * Lists the devices (-l) or, for each one (or only DEVICE), prints its
 * name, gsnd version, node GUID, ULA, limits and its port: state, MTUs and
 * link rate.  -v adds the remaining limits.  Like every libgsn program, it
 * starts a private gsnd when none is running (GSN_AUTOSTART=0 to prevent).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libgsn.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gsn_devinfo [-d DEVICE] [-i PORT] [-l] [-v]\n"
		"  -d, --ib-dev=DEVICE  only this device (default: all)\n"
		"  -i, --ib-port=PORT   only this port (default: all)\n"
		"  -l, --list           list the device names only\n"
		"  -v, --verbose        print every attribute\n");
}

static void print_ula(const char *label, const uint8_t u[6])
{
	printf("%s%02x:%02x:%02x:%02x:%02x:%02x\n", label, u[0], u[1], u[2], u[3], u[4], u[5]);
}

static const char *mtu_str(uint32_t bytes, char *buf, size_t len)
{
	snprintf(buf, len, "%u", bytes);
	return buf;
}

static int print_port(struct gsn_context *ctx, int port, int verbose)
{
	struct gsn_port_attr pa;
	char m1[16], m2[16];
	int err = gsn_query_port(ctx, (uint8_t)port, &pa);

	if (err) {
		fprintf(stderr, "gsn_devinfo: %s: query port %d: %s\n", ctx->name, port,
			strerror(-err));
		return err;
	}
	printf("\t\tport:\t%d\n", port);
	printf("\t\t\tstate:\t\t\t%s (%d)\n", gsn_port_state_str(pa.state), (int)pa.state);
	printf("\t\t\tmax_mtu:\t\t%s\n", mtu_str(pa.max_mtu, m1, sizeof(m1)));
	printf("\t\t\tactive_mtu:\t\t%s\n", mtu_str(pa.active_mtu, m2, sizeof(m2)));
	printf("\t\t\tlink_rate:\t\t%u Mb/s\n", pa.link_rate_mbps);
	print_ula("\t\t\tula:\t\t\t", pa.ula);
	if (pa.ipv4 || verbose) {
		struct in_addr a = {.s_addr = htonl(pa.ipv4)};
		char ip[INET_ADDRSTRLEN];

		printf("\t\t\tipv4:\t\t\t%s\n", pa.ipv4 ? inet_ntop(AF_INET, &a, ip, sizeof(ip)) : "none");
	}
	printf("\n");
	return 0;
}

static int print_device(struct gsn_device *dev, int port, int verbose)
{
	struct gsn_context *ctx;
	struct gsn_device_attr a;
	int err = gsn_open_device(dev, &ctx);

	if (err) {
		fprintf(stderr, "gsn_devinfo: open %s: %s\n", gsn_get_device_name(dev),
			strerror(-err));
		return err;
	}
	err = gsn_query_device(ctx, &a);
	if (err) {
		fprintf(stderr, "gsn_devinfo: %s: query: %s\n", ctx->name, strerror(-err));
		gsn_close_device(ctx);
		return err;
	}
	uint64_t g = a.node_guid;

	printf("hca_id:\t%s\n", gsn_get_device_name(dev));
	printf("\ttransport:\t\t\tGSN (HIPPI-6400, Scheduled Transfer)\n");
	printf("\tfw_ver:\t\t\t\t%s\n", a.fw_ver[0] ? a.fw_ver : "unknown");
	printf("\tnode_guid:\t\t\t%04x:%04x:%04x:%04x\n", (unsigned)(g >> 48) & 0xffff,
	       (unsigned)(g >> 32) & 0xffff, (unsigned)(g >> 16) & 0xffff, (unsigned)g & 0xffff);
	print_ula("\tula:\t\t\t\t", a.ula);
	printf("\tphys_port_cnt:\t\t\t%u\n", a.phys_port_cnt);
	printf("\tmax_mr:\t\t\t\t%u\n", a.max_mr);
	printf("\tmax_qp:\t\t\t\t%u\n", a.max_qp);
	printf("\tmax_cq:\t\t\t\t%u\n", a.max_cq);
	printf("\tmax_sge:\t\t\t%u\n", a.max_sge);
	printf("\tmax_inline:\t\t\t%u\n", a.max_inline);
	if (verbose) {
		printf("\tabi_version:\t\t\t%u\n", a.abi_version);
		printf("\tmax_pd:\t\t\t\t%u\n", a.max_pd);
		printf("\tmax_qp_wr:\t\t\t%u\n", a.max_qp_wr);
		printf("\tmax_cqe:\t\t\t%u\n", a.max_cqe);
		printf("\tmax_mr_size:\t\t\t0x%llx\n", (unsigned long long)a.max_mr_size);
		printf("\tmax_msg_size:\t\t\t0x%llx\n", (unsigned long long)a.max_msg_size);
		printf("\tatomic_cap:\t\t\tATOMIC_HCA (64-bit: cmp-swap, fetch-add, swap, inc, dec, clear)\n");
	}
	for (int p = 1; p <= a.phys_port_cnt && !err; p++)
		if (port == 0 || port == p)
			err = print_port(ctx, p, verbose);
	gsn_close_device(ctx);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ib-dev", required_argument, NULL, 'd'},
		{"ib-port", required_argument, NULL, 'i'},
		{"list", no_argument, NULL, 'l'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *want = NULL;
	int port = 0, list_only = 0, verbose = 0, c;

	while ((c = getopt_long(argc, argv, "d:i:lvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			want = optarg;
			break;
		case 'i':
			port = atoi(optarg);
			if (port <= 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'l':
			list_only = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	struct gsn_device **list;
	int n, err = gsn_get_device_list(&list, &n);

	if (err) {
		fprintf(stderr, "gsn_devinfo: no gsn device: %s\n", strerror(-err));
		return 1;
	}
	if (list_only) {
		printf("%d HCA%s found:\n", n, n == 1 ? "" : "s");
		for (int i = 0; i < n; i++)
			printf("\t%s\n", gsn_get_device_name(list[i]));
		gsn_free_device_list(list);
		return 0;
	}
	int shown = 0, rc = 0;

	for (int i = 0; i < n; i++) {
		if (want && strcmp(want, gsn_get_device_name(list[i])) != 0)
			continue;
		shown++;
		if (print_device(list[i], port, verbose))
			rc = 1;
	}
	if (shown == 0) {
		fprintf(stderr, "gsn_devinfo: %s\n", want ? "no such device" : "no devices found");
		rc = 1;
	}
	gsn_free_device_list(list);
	return rc;
}
